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
