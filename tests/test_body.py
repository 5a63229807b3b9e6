"""Reading request bodies (widgetapi/body.py): what a form body may hold."""
from __future__ import annotations

import pytest
import webtest

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
FORM = "application/x-www-form-urlencoded"


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
