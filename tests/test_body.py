"""Request bodies (widgetapi/body.py): a form body that is really JSON gets a message that says
what to do, not a list of unknown fields."""
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
