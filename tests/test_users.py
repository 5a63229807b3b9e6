"""/users: administrators list accounts; the admin check needs the token and the database."""
from __future__ import annotations

import re
import uuid
from datetime import datetime

import pytest
import webtest
from conftest import PASSWORD, bearer, login, register

from widgetapi.models import User

USERS = "/api/v1/users"
LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?([a-z]+)"?')
FORBIDDEN = {"status": "fail", "message": "You are not an administrator"}
INSUFFICIENT_SCOPE = ('Bearer realm="widgetapi", error="insufficient_scope", '
                      'error_description="You are not an administrator"')


def assert_forbidden(response: webtest.TestResponse) -> None:
    assert response.status_int == 403
    assert response.json == FORBIDDEN
    assert response.headers["WWW-Authenticate"] == INSUFFICIENT_SCOPE


def parse_link_header(value: str) -> dict[str, str]:
    """{rel: url} from an RFC 8288 Link header (rel as a token or a quoted string)."""
    links = dict((rel, url) for url, rel in LINK.findall(value))
    assert len(links) == value.count("<"), value
    return links


def test_admin_lists_users(testapp: webtest.TestApp, admin_headers: dict[str, str]) -> None:
    register(testapp, "alice@example.com")
    register(testapp, "bob@example.com")
    response = testapp.get(USERS, headers=admin_headers, status=200)
    page = response.json
    assert set(page) == {"links", "has_prev", "has_next", "page", "total_pages", "items_per_page",
                         "total_items", "items"}
    assert page["page"] == 1
    assert page["total_pages"] == 1
    assert page["items_per_page"] == 10
    assert page["total_items"] == 3
    assert page["has_prev"] is False and page["has_next"] is False
    assert set(page["links"]) == {"self", "first", "last"}
    assert [item["email"] for item in page["items"]] == ["admin@example.com", "alice@example.com",
                                                         "bob@example.com"]
    assert [item["admin"] for item in page["items"]] == [True, False, False]
    for item in page["items"]:
        assert set(item) == {"email", "public_id", "admin", "disabled", "registered_on"}
        uuid.UUID(item["public_id"])
        assert item["registered_on"].endswith("Z")
        datetime.fromisoformat(item["registered_on"].removesuffix("Z"))
    assert response.headers["Total-Count"] == "3"
    assert parse_link_header(response.headers["Link"]) == page["links"]


def test_users_items_never_carry_a_password(testapp: webtest.TestApp, admin_headers: dict[str, str]) -> None:
    register(testapp, "alice@example.com")
    response = testapp.get(USERS, headers=admin_headers, status=200)
    hashes = [user.password_hash for user in User.select()]
    for item in response.json["items"]:
        assert not any("password" in key or "hash" in key for key in item)
    for secret in [PASSWORD, *hashes]:
        assert secret not in response.text


def test_users_pages(testapp: webtest.TestApp, admin_headers: dict[str, str]) -> None:
    for number in range(11):
        register(testapp, f"user{number:02}@example.com")
    response = testapp.get(USERS, {"page": 2, "per_page": 5}, headers=admin_headers, status=200)
    page = response.json
    assert page["page"] == 2 and page["total_pages"] == 3 and page["total_items"] == 12
    assert page["has_prev"] is True and page["has_next"] is True
    assert [item["email"] for item in page["items"]] == [f"user{n:02}@example.com" for n in range(4, 9)]
    assert page["links"]["self"].endswith("/api/v1/users?page=2&per_page=5")
    assert page["links"]["prev"].endswith("?page=1&per_page=5")
    assert page["links"]["next"].endswith("?page=3&per_page=5")
    assert page["links"]["first"].endswith("?page=1&per_page=5")
    assert page["links"]["last"].endswith("?page=3&per_page=5")
    assert page["links"]["self"].startswith("http://localhost")
    assert response.headers["Total-Count"] == "12"
    assert parse_link_header(response.headers["Link"]) == page["links"]


def test_users_page_past_the_last_is_empty(testapp: webtest.TestApp, admin_headers: dict[str, str]) -> None:
    page = testapp.get(USERS, {"page": 9}, headers=admin_headers, status=200).json
    assert page["items"] == [] and page["page"] == 9 and page["total_pages"] == 1
    assert page["has_next"] is False and page["has_prev"] is True


@pytest.mark.parametrize(("query", "errors"), [
    ({"page": 0}, {"page": "must be at least 1"}),
    ({"page": "one"}, {"page": "must be a whole number"}),
    ({"per_page": 7}, {"per_page": "must be one of 5, 10, 25, 50, 100"}),
    ({"page": -1, "per_page": "x"},
     {"page": "must be at least 1", "per_page": "must be a whole number"}),
])
def test_users_page_parameters_are_validated(testapp: webtest.TestApp, admin_headers: dict[str, str],
                                             query: dict, errors: dict[str, str]) -> None:
    response = testapp.get(USERS, query, headers=admin_headers, status=400)
    assert response.json == {"status": "fail", "message": "Input payload validation failed", "errors": errors}


def test_non_admin_is_forbidden(testapp: webtest.TestApp, user_headers: dict[str, str]) -> None:
    assert_forbidden(testapp.get(USERS, headers=user_headers, expect_errors=True))


def test_users_without_a_token(testapp: webtest.TestApp) -> None:
    response = testapp.get(USERS, status=401)
    assert response.json == {"status": "fail", "message": "Unauthorized"}
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="widgetapi"'


def test_demoted_admin_with_an_old_admin_token_is_forbidden(
        testapp: webtest.TestApp, admin_headers: dict[str, str]) -> None:
    testapp.get(USERS, headers=admin_headers, status=200)
    User.update(admin=False).where(User.email == "admin@example.com").execute()
    assert_forbidden(testapp.get(USERS, headers=admin_headers, expect_errors=True))
    fresh = bearer(login(testapp, "admin@example.com"))
    assert_forbidden(testapp.get(USERS, headers=fresh, expect_errors=True))


def test_promoted_user_needs_a_new_token(testapp: webtest.TestApp, user_headers: dict[str, str]) -> None:
    User.update(admin=True).where(User.email == "user@example.com").execute()
    assert_forbidden(testapp.get(USERS, headers=user_headers, expect_errors=True))
    fresh = bearer(login(testapp, "user@example.com"))
    testapp.get(USERS, headers=fresh, status=200)
    # The old token is still a valid token, just not an administrator's.
    testapp.get("/api/v1/auth/user", headers=user_headers, status=200)


# One user: look, promote or demote, disable or enable, delete, end every session

def public_id(email: str) -> str:
    user = User.by_email(email)
    assert user is not None
    return str(user.public_id)


def item(email: str) -> str:
    return f"{USERS}/{public_id(email)}"


def test_admin_reads_one_user_with_their_live_sessions(
        testapp: webtest.TestApp, admin_headers: dict[str, str]) -> None:
    register(testapp, "alice@example.com")
    login(testapp, "alice@example.com")
    body = testapp.get(item("alice@example.com"), headers=admin_headers, status=200).json
    assert body == {"email": "alice@example.com", "public_id": public_id("alice@example.com"),
                    "admin": False, "disabled": False, "registered_on": body["registered_on"], "sessions": 2}
    # the same user by the UUID in capitals
    testapp.get(item("alice@example.com").upper().replace("/API/V1/USERS", USERS), headers=admin_headers,
                status=200)


@pytest.mark.parametrize("path_id", [
    str(uuid.uuid4()), "not-a-uuid", "%00", "5b0bd4f3-8f0a-4f57-9d37-7fe1d7b1e1a2%00", "x" * 300,
    "{5b0bd4f3-8f0a-4f57-9d37-7fe1d7b1e1a2}", "5b0bd4f38f0a4f579d377fe1d7b1e1a2", "%E2%98%83",
])
def test_an_unknown_or_malformed_public_id_is_not_found(
        testapp: webtest.TestApp, admin_headers: dict[str, str], path_id: str) -> None:
    for method, extra in [("GET", {}), ("PATCH", {"params": '{"admin": true}'}), ("DELETE", {}),
                          ("POST", {})]:
        path = f"{USERS}/{path_id}" + ("/logout-all" if method == "POST" else "")
        headers = {**admin_headers, "Content-Type": "application/json"}
        response = testapp.request(path, method=method, headers=headers,
                                   body=extra.get("params", "").encode(), expect_errors=True)
        assert response.status_int == 404, (method, path, response.text)
        message = response.json["message"]
        assert message.startswith("User ") and message.endswith(" not found.")


def test_an_unknown_user_is_named_in_the_message(testapp: webtest.TestApp,
                                                 admin_headers: dict[str, str]) -> None:
    missing = str(uuid.uuid4())
    response = testapp.get(f"{USERS}/{missing}", headers=admin_headers, status=404)
    assert response.json == {"status": "fail", "message": f"User {missing} not found."}


def test_the_user_endpoints_are_for_administrators(testapp: webtest.TestApp,
                                                   user_headers: dict[str, str]) -> None:
    register(testapp, "bob@example.com")
    bob = item("bob@example.com")
    for method, path in [("GET", bob), ("PATCH", bob), ("DELETE", bob), ("POST", f"{bob}/logout-all")]:
        assert_forbidden(testapp.request(path, method=method, headers=user_headers, expect_errors=True))
        assert testapp.request(path, method=method, expect_errors=True).status_int == 401


def test_promoting_and_demoting(testapp: webtest.TestApp, admin_headers: dict[str, str]) -> None:
    old = bearer(register(testapp, "alice@example.com"))
    body = testapp.patch_json(item("alice@example.com"), {"admin": True}, headers=admin_headers).json
    assert (body["admin"], body["disabled"], body["sessions"]) == (True, False, 1)
    assert_forbidden(testapp.get(USERS, headers=old, expect_errors=True))  # the token says not admin
    fresh = bearer(login(testapp, "alice@example.com"))
    testapp.get(USERS, headers=fresh, status=200)
    testapp.patch(item("alice@example.com"), {"admin": "false"}, headers=admin_headers, status=200)  # a form
    assert_forbidden(testapp.get(USERS, headers=fresh, expect_errors=True))  # on the next request
    testapp.get("/api/v1/auth/user", headers=fresh, status=200)  # still a valid token


def test_disabling_ends_every_session_at_once(testapp: webtest.TestApp,
                                              admin_headers: dict[str, str]) -> None:
    tokens = [register(testapp, "alice@example.com"), login(testapp, "alice@example.com")]
    body = testapp.patch_json(item("alice@example.com"), {"disabled": True}, headers=admin_headers).json
    assert (body["disabled"], body["sessions"]) == (True, 0)
    for token in tokens:
        response = testapp.get("/api/v1/auth/user", headers=bearer(token), status=401)
        assert response.json["message"] == "Token blacklisted. Please log in again."
    listed = testapp.get(USERS, headers=admin_headers).json["items"]
    assert [(u["email"], u["disabled"]) for u in listed] == [("admin@example.com", False),
                                                            ("alice@example.com", True)]


@pytest.mark.parametrize(("body", "errors"), [
    ({}, {"body": "must have at least one field"}),
    ({"admin": "yes"}, {"admin": "must be true or false"}),
    ({"disabled": 1, "email": "x@example.com"},
     {"disabled": "must be true or false", "email": "is not a known field"}),
])
def test_a_user_update_is_validated(testapp: webtest.TestApp, admin_headers: dict[str, str],
                                    body: dict, errors: dict[str, str]) -> None:
    register(testapp, "alice@example.com")
    response = testapp.patch_json(item("alice@example.com"), body, headers=admin_headers, status=400)
    assert response.json == {"status": "fail", "message": "Input payload validation failed", "errors": errors}


def test_deleting_a_user(testapp: webtest.TestApp, admin_headers: dict[str, str]) -> None:
    token = bearer(register(testapp, "alice@example.com"))
    path = item("alice@example.com")
    response = testapp.delete(path, headers=admin_headers, status=204)
    assert response.body == b""
    assert testapp.get("/api/v1/auth/user", headers=token, status=401).json["message"] == \
        "Invalid token. Please log in again."
    testapp.delete(path, headers=admin_headers, status=404)
    listed = testapp.get(USERS, headers=admin_headers).json["items"]
    assert [u["email"] for u in listed] == ["admin@example.com"]


def test_logging_a_user_out_everywhere(testapp: webtest.TestApp, admin_headers: dict[str, str]) -> None:
    tokens = [register(testapp, "alice@example.com"), login(testapp, "alice@example.com")]
    bob = bearer(register(testapp, "bob@example.com"))
    response = testapp.post(f"{item('alice@example.com')}/logout-all", headers=admin_headers, status=200)
    assert response.json == {"status": "success", "message": "successfully logged out everywhere"}
    for token in tokens:
        testapp.get("/api/v1/auth/user", headers=bearer(token), status=401)
    testapp.get("/api/v1/auth/user", headers=bob, status=200)
    testapp.get(USERS, headers=admin_headers, status=200)
    fresh = login(testapp, "alice@example.com")
    testapp.get("/api/v1/auth/user", headers=bearer(fresh), status=200)
