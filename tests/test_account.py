"""The caller's own account: change the password, delete the account; and what disabling
an account does to logging in."""
from __future__ import annotations

from dataclasses import replace

import falcon
import webtest
from conftest import PASSWORD, bearer, login, register
from widget_helpers import widget_body

from widgetapi import operations
from widgetapi.app import create_app
from widgetapi.config import Config
from widgetapi.models import User

USER = "/api/v1/auth/user"
PASSWORD_URL = "/api/v1/auth/password"
LOGIN = "/api/v1/auth/login"
NEW_PASSWORD = "staple battery horse correct"
BLACKLISTED = "Token blacklisted. Please log in again."
INVALID = "Invalid token. Please log in again."
FAILED = "Input payload validation failed"
LAST_ADMIN = "The last active administrator cannot be demoted, disabled or deleted"


def refused(testapp: webtest.TestApp, token: str) -> str:
    return str(testapp.get(USER, headers=bearer(token), status=401).json["message"])


def change(testapp: webtest.TestApp, token: str, body: dict, status: int) -> webtest.TestResponse:
    return testapp.post_json(PASSWORD_URL, body, headers=bearer(token), status=status)


# Password change

def test_a_password_change_refuses_every_other_token_and_answers_a_working_one(
        testapp: webtest.TestApp) -> None:
    calling = register(testapp, "alice@example.com")
    other = login(testapp, "alice@example.com")
    response = change(testapp, calling, {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, 200)
    body = response.json
    assert (body["status"], body["message"], body["token_type"]) == ("success", "password changed", "bearer")
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Pragma"] == "no-cache"
    assert refused(testapp, calling) == BLACKLISTED and refused(testapp, other) == BLACKLISTED
    fresh = body["access_token"]
    assert testapp.get(USER, headers=bearer(fresh), status=200).json["email"] == "alice@example.com"
    sessions = testapp.get("/api/v1/auth/sessions", headers=bearer(fresh)).json["items"]
    assert [session["current"] for session in sessions] == [True]
    testapp.post_json(LOGIN, {"email": "alice@example.com", "password": PASSWORD}, status=401)
    login(testapp, "alice@example.com", NEW_PASSWORD)


def test_a_wrong_current_password_changes_nothing(testapp: webtest.TestApp) -> None:
    token = register(testapp, "alice@example.com")
    body = {"current_password": "not the password", "new_password": NEW_PASSWORD}
    response = change(testapp, token, body, 400)
    assert response.json == {"status": "fail", "message": FAILED,
                             "errors": {"current_password": "does not match"}}
    testapp.get(USER, headers=bearer(token), status=200)
    login(testapp, "alice@example.com", PASSWORD)


def test_the_new_password_follows_the_registration_rules(testapp: webtest.TestApp) -> None:
    token = register(testapp, "alice@example.com")
    for new_password, message in [("short", "must be at least 8 characters"),
                                  ("é" * 37, "must be at most 72 bytes in UTF-8"),
                                  (12345678, "must be a string")]:
        response = change(testapp, token, {"current_password": PASSWORD, "new_password": new_password}, 400)
        assert response.json["errors"] == {"new_password": message}
    response = change(testapp, token, {"new_password": NEW_PASSWORD, "extra": 1}, 400)
    assert response.json["errors"] == {"current_password": "is required", "extra": "is not a known field"}
    testapp.get(USER, headers=bearer(token), status=200)  # no attempt changed anything


def test_a_password_change_as_a_form(testapp: webtest.TestApp) -> None:
    token = register(testapp, "alice@example.com")
    testapp.post(PASSWORD_URL, {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
                 headers=bearer(token), status=200)
    login(testapp, "alice@example.com", NEW_PASSWORD)


def test_a_password_change_needs_a_token(testapp: webtest.TestApp) -> None:
    testapp.post_json(PASSWORD_URL, {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, status=401)


# Account deletion

def test_deleting_my_account_refuses_my_tokens_and_keeps_my_widgets_ownerless(
        testapp: webtest.TestApp, admin_headers: dict[str, str], config: Config) -> None:
    operations.create_admin(config, "second@example.com", lambda: PASSWORD)
    second = login(testapp, "second@example.com")
    other = login(testapp, "second@example.com")
    testapp.post_json("/api/v1/widgets", widget_body("orphan"), headers=bearer(second), status=201)

    response = testapp.delete_json(USER, {"current_password": PASSWORD}, headers=bearer(second), status=204)

    assert response.body == b""
    assert refused(testapp, second) == INVALID and refused(testapp, other) == INVALID
    testapp.post_json(LOGIN, {"email": "second@example.com", "password": PASSWORD}, status=401)
    assert testapp.get("/api/v1/widgets/orphan", headers=admin_headers).json["owner"] is None
    page = testapp.get("/api/v1/widgets", headers=admin_headers).json
    assert [(w["name"], w["owner"]) for w in page["items"]] == [("orphan", None)]
    assert User.by_email("second@example.com") is None
    # the address is free again
    register(testapp, "second@example.com")


def test_deleting_my_account_needs_the_right_current_password(testapp: webtest.TestApp) -> None:
    token = register(testapp, "alice@example.com")
    response = testapp.delete_json(USER, {"current_password": "wrong password"}, headers=bearer(token),
                                   status=400)
    assert response.json["errors"] == {"current_password": "does not match"}
    response = testapp.delete(USER, headers=bearer(token), status=400)
    assert response.json["errors"] == {"current_password": "is required"}
    testapp.delete(USER, {"current_password": PASSWORD}, headers=bearer(token), status=204)  # a form


def test_the_last_active_administrator_cannot_delete_their_account(
        testapp: webtest.TestApp, admin_headers: dict[str, str]) -> None:
    response = testapp.delete_json(USER, {"current_password": PASSWORD}, headers=admin_headers, status=409)
    assert response.json == {"status": "fail", "message": LAST_ADMIN}
    testapp.get("/api/v1/users", headers=admin_headers, status=200)


# Disabled accounts and logging in

def test_a_disabled_account_cannot_log_in_until_enabled(
        testapp: webtest.TestApp, admin_headers: dict[str, str]) -> None:
    old = register(testapp, "alice@example.com")
    user = User.by_email("alice@example.com")
    assert user is not None
    item = f"/api/v1/users/{user.public_id}"
    testapp.patch_json(item, {"disabled": True}, headers=admin_headers, status=200)

    response = testapp.post_json(LOGIN, {"email": "alice@example.com", "password": PASSWORD}, status=403)
    assert response.json == {"status": "fail", "message": "This account is disabled"}
    # a wrong password says what it always says: it does not tell the account is disabled
    response = testapp.post_json(LOGIN, {"email": "alice@example.com", "password": "wrong one"}, status=401)
    assert response.json["message"] == "email or password does not match"
    assert refused(testapp, old) == BLACKLISTED

    testapp.patch_json(item, {"disabled": False}, headers=admin_headers, status=200)
    fresh = login(testapp, "alice@example.com")
    assert testapp.get(USER, headers=bearer(fresh), status=200).json["disabled"] is False
    assert refused(testapp, old) == BLACKLISTED  # old tokens stay refused


def test_the_new_bodies_are_bounded_and_typed(testapp: webtest.TestApp,
                                             admin_headers: dict[str, str]) -> None:
    """The account endpoints read their bodies as every write endpoint does: at most 64 KiB
    (413), JSON or a form (else 415), an object (else 400)."""
    token = bearer(register(testapp, "alice@example.com"))
    big = '{"current_password": "' + "x" * (64 * 1024) + '"}'
    user_item = f"/api/v1/users/{User.get(User.email == 'alice@example.com').public_id}"
    for method, path, headers in [("DELETE", USER, token), ("POST", PASSWORD_URL, token),
                                  ("PATCH", user_item, admin_headers)]:
        for body, content_type, status in [(big, "application/json", 413), ("x", "text/plain", 415),
                                           ("[1]", "application/json", 400)]:
            response = testapp.request(path, method=method, body=body.encode(), expect_errors=True,
                                       headers={**headers, "Content-Type": content_type})
            assert response.status_int == status, (method, path, content_type, response.text)
            assert response.json["status"] == "fail"
    testapp.get(USER, headers=token, status=200)  # nothing happened to the account


# Throttling (widgetapi/throttle.py): a wrong current password is a failed login

def test_wrong_current_passwords_lock_the_account_out_for_this_address(app: falcon.App,
                                                                      config: Config) -> None:
    strict = webtest.TestApp(create_app(replace(config, login_max_failures=2)))
    token = register(strict, "alice@example.com")
    strict.delete_json(USER, {"current_password": "wrong password"}, headers=bearer(token), status=400)
    change(strict, token, {"current_password": "wrong again", "new_password": NEW_PASSWORD}, 400)

    # locked out for this email from this address: the right password too, everywhere it is asked
    response = change(strict, token, {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, 429)
    assert int(response.headers["Retry-After"]) >= 1
    strict.delete_json(USER, {"current_password": PASSWORD}, headers=bearer(token), status=429)
    strict.post_json(LOGIN, {"email": "alice@example.com", "password": PASSWORD}, status=429)
    # from another address the account is there as before
    strict.post_json(LOGIN, {"email": "alice@example.com", "password": PASSWORD}, status=200,
                     extra_environ={"REMOTE_ADDR": "198.51.100.9"})
    strict.get(USER, headers=bearer(token), status=200)


def test_password_changes_count_against_the_address_rate(app: falcon.App, config: Config) -> None:
    strict = webtest.TestApp(create_app(replace(config, auth_rate_per_minute=2)))
    token = register(strict, "alice@example.com")  # one request of the minute's two
    body = {"current_password": "wrong password", "new_password": NEW_PASSWORD}
    # a minute may turn once meanwhile, so a few tries; a 429 must come
    statuses = [strict.post_json(PASSWORD_URL, body, headers=bearer(token), expect_errors=True).status_int
                for _ in range(5)]
    assert 429 in statuses and set(statuses) <= {400, 429}, statuses
