"""Request bodies (widgetapi/body.py): a form body that is really JSON gets a message that says
what to do, not a list of unknown fields; a form field is the UTF-8 it was sent as."""
from __future__ import annotations

import pytest
import webtest

LOOKS_LIKE_JSON = {"status": "fail",
                   "message": "The body looks like JSON: send it with Content-Type: application/json"}
FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize("body", [
    '{"email": "alice@example.com", "password": "correct horse battery"}',  # curl -d without -H
    '  \n{"email": "alice@example.com"}',
    '[1, 2]',
    '{',
])
@pytest.mark.parametrize("path", ["/api/v1/auth/register", "/api/v1/auth/login"])
def test_a_form_body_that_is_json_is_a_400_that_says_so(testapp: webtest.TestApp, path: str,
                                                        body: str) -> None:
    response = testapp.post(path, body, content_type=FORM, status=400)
    assert response.json == LOOKS_LIKE_JSON


def test_a_json_body_for_a_widget_sent_as_a_form(testapp: webtest.TestApp,
                                                 admin_headers: dict[str, str]) -> None:
    body = '{"name": "w", "info_url": "https://example.com", "deadline": "2099-12-31"}'
    response = testapp.post("/api/v1/widgets", body, content_type=f"{FORM}; charset=utf-8",
                            headers=admin_headers, status=400)
    assert response.json == LOOKS_LIKE_JSON


def test_a_real_form_still_works(testapp: webtest.TestApp) -> None:
    testapp.post("/api/v1/auth/register", {"email": "alice@example.com", "password": "correct horse battery"},
                 status=201)
    # a value may start with a brace; only a body that starts with one looks like JSON
    testapp.post("/api/v1/auth/register", "email=bob%40example.com&password=%7Bcorrect+horse%7D",
                 content_type=FORM, status=201)


REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"


def post_form(testapp: webtest.TestApp, path: str, body: str, status: int) -> webtest.TestResponse:
    return testapp.post(path, body, headers={"Content-Type": FORM}, status=status)


@pytest.mark.parametrize("escape", ["%E9", "%FF", "%ED%A0%80", "%C0%80", "%E2%82"])
def test_a_form_field_that_is_not_utf8_is_refused_not_replaced(testapp: webtest.TestApp, escape: str) -> None:
    """Replacing undecodable bytes with U+FFFD would store another password than the one
    sent, and make different ones match: `%E9tudiant` and `%E8tudiant` both become
    `\\ufffdtudiant`."""
    response = post_form(testapp, REGISTER, f"email=p%40example.com&password={escape}tudiant12", 400)
    assert response.json == {"status": "fail", "message": "The form body is not valid UTF-8"}
    post_form(testapp, REGISTER, f"email={escape}%40example.com&password=etudiant12", 400)
    post_form(testapp, LOGIN, f"email=p%40example.com&password={escape}tudiant12", 400)


def test_a_form_password_in_utf8_escapes_is_the_password(testapp: webtest.TestApp) -> None:
    post_form(testapp, REGISTER, "email=p%40example.com&password=%C3%A9tudiant12", 201)
    testapp.post_json(LOGIN, {"email": "p@example.com", "password": "étudiant12"}, status=200)
    post_form(testapp, LOGIN, "email=p%40example.com&password=%C3%A8tudiant12", 401)


def test_a_json_body_with_a_percent_sign_sent_as_a_form_still_says_it_looks_like_json(
        testapp: webtest.TestApp) -> None:
    response = post_form(testapp, LOGIN, '{"email": "a@example.com", "password": "100%E9tudiant"}', 400)
    assert response.json == LOOKS_LIKE_JSON
