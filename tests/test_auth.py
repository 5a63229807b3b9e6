"""/auth: registering, logging in (JSON, form, HTTP Basic), who am I, logging out."""
from __future__ import annotations

import base64
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import webtest
from conftest import PASSWORD, bearer, login, register, with_session

from widgetapi.config import Config
from widgetapi.keys import KeyRing
from widgetapi.models import User
from widgetapi.timeutil import utcnow
from widgetapi.tokens import decode_token, issue_token

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
USER = "/api/v1/auth/user"
LOGOUT = "/api/v1/auth/logout"
REALM = 'Bearer realm="widgetapi"'
NO_MATCH = "email or password does not match"
INVALID = "Input payload validation failed"


def assert_token_response(response: webtest.TestResponse, message: str, config: Config) -> None:
    assert set(response.json) == {"status", "message", "access_token", "token_type", "expires_in"}
    assert response.json["status"] == "success"
    assert response.json["message"] == message
    assert response.json["token_type"] == "bearer"
    assert response.json["expires_in"] == config.token_expire_seconds
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    assert response.content_type == "application/json"
    decode_token(response.json["access_token"], KeyRing.from_config(config))


def assert_no_match(response: webtest.TestResponse) -> None:
    assert response.json == {"status": "fail", "message": NO_MATCH}
    assert response.headers["WWW-Authenticate"] == REALM


def basic(email: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{email}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {encoded}"}


# Registering


def test_register_returns_a_token_response(testapp: webtest.TestApp, config: Config) -> None:
    response = testapp.post_json(REGISTER, {"email": "alice@example.com", "password": PASSWORD}, status=201)
    assert_token_response(response, "successfully registered", config)


def test_registered_token_works(testapp: webtest.TestApp) -> None:
    token = register(testapp, "alice@example.com")
    response = testapp.get(USER, headers=bearer(token), status=200)
    assert response.json["email"] == "alice@example.com"
    assert response.json["admin"] is False


def test_register_trims_and_lower_cases_the_email(testapp: webtest.TestApp) -> None:
    token = register(testapp, "  Alice@Example.COM \t")
    assert testapp.get(USER, headers=bearer(token)).json["email"] == "alice@example.com"
    login(testapp, "alice@example.com")
    login(testapp, " ALICE@example.com ")


def test_register_twice_is_409(testapp: webtest.TestApp) -> None:
    register(testapp, "alice@example.com")
    response = testapp.post_json(REGISTER, {"email": "alice@example.com", "password": "another password"},
                                 status=409)
    assert response.json == {"status": "fail", "message": "alice@example.com is already registered"}


def test_register_differently_cased_duplicate_is_409(testapp: webtest.TestApp) -> None:
    register(testapp, "alice@example.com")
    response = testapp.post_json(REGISTER, {"email": " ALICE@Example.com", "password": PASSWORD}, status=409)
    assert response.json == {"status": "fail", "message": "alice@example.com is already registered"}
    # The original password still logs in: the duplicate changed nothing.
    login(testapp, "alice@example.com")


def test_register_by_form(testapp: webtest.TestApp, config: Config) -> None:
    response = testapp.post(REGISTER, {"email": "Form@Example.com", "password": PASSWORD}, status=201)
    assert_token_response(response, "successfully registered", config)
    token = response.json["access_token"]
    assert testapp.get(USER, headers=bearer(token)).json["email"] == "form@example.com"


def test_register_by_form_is_validated_too(testapp: webtest.TestApp) -> None:
    response = testapp.post(REGISTER, {"email": "nope", "password": "short"}, status=400)
    assert response.json == {"status": "fail", "message": INVALID,
                             "errors": {"email": "nope is not a valid email",
                                        "password": "must be at least 8 characters"}}


# Registration validation


def register_fails(testapp: webtest.TestApp, body: object) -> dict[str, str]:
    response = testapp.post_json(REGISTER, body, status=400)
    assert response.json["status"] == "fail"
    assert response.json["message"] == INVALID
    assert set(response.json) == {"status", "message", "errors"}
    return response.json["errors"]


@pytest.mark.parametrize("email", [
    "not-an-email", "no-at.example.com", "a@b", "two@@example.com", "sp ace@example.com",
    "a@exa mple.com", "@example.com", "a@.", "", "nul\x00@example.com", "tab@exa\tmple.com",
])
def test_register_rejects_a_bad_email(testapp: webtest.TestApp, email: str) -> None:
    errors = register_fails(testapp, {"email": email, "password": PASSWORD})
    assert errors == {"email": f"{email} is not a valid email"}


@pytest.mark.parametrize("email", [
    "admin@example.com\u200b",  # zero-width space (Cf)
    "\u202eadmin@example.com",  # right-to-left override (Cf)
    "ad\u200dmin@example.com",  # zero-width joiner (Cf)
    "ad\u00admin@example.com",  # soft hyphen (Cf)
    "\ufeffadmin@example.com",  # byte order mark (Cf)
    "ad\x9bmin@example.com",  # C1 control: CSI (Cc)
    "ad\x1bmin@example.com",  # escape (Cc)
    "ad\u2028min@example.com",  # line separator (Zl)
    "ad\u2029min@example.com",  # paragraph separator (Zp)
])
def test_register_rejects_control_format_and_bidi_characters(testapp: webtest.TestApp, email: str) -> None:
    errors = register_fails(testapp, {"email": email, "password": PASSWORD})
    assert errors == {"email": f"{email} is not a valid email"}


@pytest.mark.parametrize("variant", [
    "\uff41\uff44\uff4d\uff49\uff4e\uff20\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff43\uff4f\uff4d",
    "ADMIN@EXAMPLE.COM",
])
def test_fullwidth_and_cased_variants_of_a_registered_email_are_that_email(
        testapp: webtest.TestApp, variant: str) -> None:
    register(testapp, "admin@example.com")
    response = testapp.post_json(REGISTER, {"email": variant, "password": PASSWORD}, status=409)
    assert response.json["message"] == "admin@example.com is already registered"
    login(testapp, variant)


def test_composed_and_decomposed_accents_are_one_email(testapp: webtest.TestApp) -> None:
    register(testapp, "Cafe\u0301@example.com")  # e + combining acute accent
    body = {"email": "caf\u00e9@example.com", "password": PASSWORD}
    response = testapp.post_json(REGISTER, body, status=409)
    assert response.json["message"] == "caf\u00e9@example.com is already registered"
    login(testapp, "CAF\u00c9@example.com")


def test_register_rejects_a_too_long_email(testapp: webtest.TestApp) -> None:
    email = "a" * 243 + "@example.com"  # 255 characters
    errors = register_fails(testapp, {"email": email, "password": PASSWORD})
    assert list(errors) == ["email"]


def test_register_accepts_an_email_of_254_characters(testapp: webtest.TestApp) -> None:
    register(testapp, "a" * 242 + "@example.com")


def test_register_rejects_a_too_short_password(testapp: webtest.TestApp) -> None:
    errors = register_fails(testapp, {"email": "alice@example.com", "password": "1234567"})
    assert errors == {"password": "must be at least 8 characters"}


def test_register_accepts_a_password_of_72_bytes(testapp: webtest.TestApp) -> None:
    password = "é" * 36  # 36 characters, 72 bytes
    register(testapp, "alice@example.com", password)
    login(testapp, "alice@example.com", password)


def test_register_rejects_a_password_over_72_bytes_under_72_characters(testapp: webtest.TestApp) -> None:
    password = "é" * 37  # 37 characters, 74 bytes: bcrypt would silently drop the end
    errors = register_fails(testapp, {"email": "alice@example.com", "password": password})
    assert errors == {"password": "must be at most 72 bytes in UTF-8"}


def test_register_rejects_missing_fields(testapp: webtest.TestApp) -> None:
    assert register_fails(testapp, {}) == {"email": "is required", "password": "is required"}
    assert register_fails(testapp, {"email": "alice@example.com"}) == {"password": "is required"}


def test_register_with_no_body_is_a_validation_failure(testapp: webtest.TestApp) -> None:
    response = testapp.post(REGISTER, status=400)
    assert response.json["errors"] == {"email": "is required", "password": "is required"}


def test_register_rejects_an_unknown_field(testapp: webtest.TestApp) -> None:
    errors = register_fails(testapp, {"email": "alice@example.com", "password": PASSWORD, "admin": True})
    assert errors == {"admin": "is not a known field"}


def test_register_rejects_wrong_types(testapp: webtest.TestApp) -> None:
    errors = register_fails(testapp, {"email": 42, "password": ["a", "list"]})
    assert errors == {"email": "must be a string", "password": "must be a string"}


def test_register_reports_every_failing_field_at_once(testapp: webtest.TestApp) -> None:
    errors = register_fails(testapp, {"email": "bad", "password": "x", "role": "admin"})
    assert errors == {"email": "bad is not a valid email", "password": "must be at least 8 characters",
                      "role": "is not a known field"}


def test_failed_registration_creates_no_user(testapp: webtest.TestApp) -> None:
    register_fails(testapp, {"email": "alice@example.com", "password": "short"})
    testapp.post_json(LOGIN, {"email": "alice@example.com", "password": "short"}, status=401)


# Logging in


def test_login_by_json(testapp: webtest.TestApp, config: Config) -> None:
    register(testapp, "alice@example.com")
    response = testapp.post_json(LOGIN, {"email": "alice@example.com", "password": PASSWORD}, status=200)
    assert_token_response(response, "successfully logged in", config)


def test_login_by_form(testapp: webtest.TestApp, config: Config) -> None:
    register(testapp, "alice@example.com")
    response = testapp.post(LOGIN, {"email": "Alice@Example.com", "password": PASSWORD}, status=200)
    assert_token_response(response, "successfully logged in", config)


def test_login_by_basic_auth_with_no_body(testapp: webtest.TestApp, config: Config) -> None:
    register(testapp, "alice@example.com")
    response = testapp.post(LOGIN, headers=basic("alice@example.com", PASSWORD), status=200)
    assert_token_response(response, "successfully logged in", config)
    token = response.json["access_token"]
    assert testapp.get(USER, headers=bearer(token)).json["email"] == "alice@example.com"


def test_login_by_basic_auth_with_a_colon_in_the_password(testapp: webtest.TestApp) -> None:
    register(testapp, "alice@example.com", "pass:word:with:colons")
    testapp.post(LOGIN, headers=basic("alice@example.com", "pass:word:with:colons"), status=200)


def test_login_by_basic_auth_with_a_wrong_password(testapp: webtest.TestApp) -> None:
    register(testapp, "alice@example.com")
    assert_no_match(testapp.post(LOGIN, headers=basic("alice@example.com", "wrong password"), status=401))


@pytest.mark.parametrize("header", [
    "Basic !!!not-base64!!!",
    "Basic " + base64.b64encode(b"no-colon").decode(),
    "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
])
def test_login_by_malformed_basic_auth(testapp: webtest.TestApp, header: str) -> None:
    assert_no_match(testapp.post(LOGIN, headers={"Authorization": header}, status=401))


def test_login_with_a_wrong_password(testapp: webtest.TestApp) -> None:
    register(testapp, "alice@example.com")
    response = testapp.post_json(LOGIN, {"email": "alice@example.com", "password": "wrong password"},
                                 status=401)
    assert_no_match(response)


def test_login_with_an_unknown_email(testapp: webtest.TestApp) -> None:
    register(testapp, "alice@example.com")
    response = testapp.post_json(LOGIN, {"email": "bob@example.com", "password": PASSWORD}, status=401)
    assert_no_match(response)


def test_login_with_a_password_over_72_bytes_is_a_plain_401(testapp: webtest.TestApp) -> None:
    register(testapp, "alice@example.com")
    for password in (PASSWORD + "x" * 60, "é" * 40, PASSWORD * 10):
        response = testapp.post_json(LOGIN, {"email": "alice@example.com", "password": password}, status=401)
        assert_no_match(response)
    response = testapp.post_json(LOGIN, {"email": "nobody@example.com", "password": "é" * 40}, status=401)
    assert_no_match(response)


def test_login_does_not_truncate_a_long_password(testapp: webtest.TestApp) -> None:
    """bcrypt only reads 72 bytes; a 72-byte password plus more must not log in."""
    password = "p" * 72
    register(testapp, "alice@example.com", password)
    response = testapp.post_json(LOGIN, {"email": "alice@example.com", "password": password + "extra"},
                                 status=401)
    assert_no_match(response)


def test_login_with_a_control_character_in_the_email_is_400(testapp: webtest.TestApp) -> None:
    response = testapp.post_json(LOGIN, {"email": "a\x00b@example.com", "password": PASSWORD}, status=400)
    assert response.json["errors"] == {"email": "a\x00b@example.com is not a valid email"}


def test_login_with_an_empty_password_is_400(testapp: webtest.TestApp) -> None:
    response = testapp.post(LOGIN, {"email": "alice@example.com", "password": ""}, status=400)
    assert response.json["errors"] == {"password": "must not be empty"}


def test_login_validation(testapp: webtest.TestApp) -> None:
    response = testapp.post_json(LOGIN, {"email": "bad", "extra": 1}, status=400)
    assert response.json == {"status": "fail", "message": INVALID, "errors": {
        "email": "bad is not a valid email", "password": "is required", "extra": "is not a known field"}}


# Who am I


def test_current_user(testapp: webtest.TestApp, config: Config) -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    token = register(testapp, "alice@example.com")
    after = datetime.now(timezone.utc)
    response = testapp.get(USER, headers=bearer(token), status=200)
    body = response.json
    assert set(body) == {"email", "public_id", "admin", "disabled", "registered_on", "token_expires_in"}
    assert body["disabled"] is False
    assert body["email"] == "alice@example.com"
    assert body["admin"] is False
    assert str(uuid.UUID(body["public_id"])) == body["public_id"]
    assert body["public_id"] == str(decode_token(token, KeyRing.from_config(config)).public_id)
    assert body["registered_on"].endswith("Z")
    registered_on = datetime.fromisoformat(body["registered_on"].replace("Z", "+00:00"))
    assert before <= registered_on <= after
    assert isinstance(body["token_expires_in"], int)
    assert 0 <= body["token_expires_in"] <= config.token_expire_seconds


def test_current_user_of_an_administrator(testapp: webtest.TestApp, admin_headers: dict[str, str]) -> None:
    body = testapp.get(USER, headers=admin_headers).json
    assert body["email"] == "admin@example.com"
    assert body["admin"] is True


def test_current_user_needs_a_token(testapp: webtest.TestApp) -> None:
    response = testapp.get(USER, status=401)
    assert response.json == {"status": "fail", "message": "Unauthorized"}
    assert response.headers["WWW-Authenticate"] == REALM


def test_token_expires_in_counts_down(testapp: webtest.TestApp, config: Config) -> None:
    """A long-lived token issued an hour ago has an hour less left."""
    register(testapp, "alice@example.com")
    user = User.by_email("alice@example.com")
    assert user is not None
    token = with_session(issue_token(user.public_id, False, KeyRing.from_config(config), 7200,
                                     now=utcnow() - timedelta(hours=1)))
    left = testapp.get(USER, headers=bearer(token)).json["token_expires_in"]
    assert 3500 <= left <= 3600


# Logging out


def test_logout_then_the_token_is_refused(testapp: webtest.TestApp) -> None:
    token = register(testapp, "alice@example.com")
    response = testapp.post(LOGOUT, headers=bearer(token), status=200)
    assert response.json == {"status": "success", "message": "successfully logged out"}
    for request in (lambda: testapp.get(USER, headers=bearer(token), status=401),
                    lambda: testapp.post(LOGOUT, headers=bearer(token), status=401)):
        refused = request()
        message = "Token blacklisted. Please log in again."
        assert refused.json == {"status": "fail", "message": message}
        assert refused.headers["WWW-Authenticate"] == (
            f'{REALM}, error="invalid_token", error_description="{message}"')


def test_after_logout_a_fresh_login_works(testapp: webtest.TestApp) -> None:
    old = register(testapp, "alice@example.com")
    testapp.post(LOGOUT, headers=bearer(old), status=200)
    fresh = login(testapp, "alice@example.com")
    assert testapp.get(USER, headers=bearer(fresh), status=200).json["email"] == "alice@example.com"
    testapp.get(USER, headers=bearer(old), status=401)


def test_logout_refuses_only_that_token(testapp: webtest.TestApp) -> None:
    first = register(testapp, "alice@example.com")
    second = login(testapp, "alice@example.com")
    testapp.post(LOGOUT, headers=bearer(first), status=200)
    testapp.get(USER, headers=bearer(second), status=200)
    testapp.get(USER, headers=bearer(first), status=401)


def test_logout_needs_a_token(testapp: webtest.TestApp) -> None:
    response = testapp.post(LOGOUT, status=401)
    assert response.json == {"status": "fail", "message": "Unauthorized"}
    assert response.headers["WWW-Authenticate"] == REALM
