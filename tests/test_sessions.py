"""Sessions: every token issued is a session the server knows by its jti; the caller lists
and ends theirs; checking a token stays one query."""
from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt
import pytest
import webtest
from conftest import PASSWORD, bearer, login, register
from widget_helpers import widget_body

from widgetapi.config import Config
from widgetapi.db import database
from widgetapi.keys import KeyRing
from widgetapi.models import Session, User
from widgetapi.timeutil import utcnow
from widgetapi.tokens import issue_token

SESSIONS = "/api/v1/auth/sessions"
USER = "/api/v1/auth/user"
LOGIN = "/api/v1/auth/login"
BLACKLISTED = "Token blacklisted. Please log in again."
ALICE = {"email": "alice@example.com", "password": PASSWORD}


def jti(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["jti"])


def assert_blacklisted(testapp: webtest.TestApp, token: str) -> None:
    response = testapp.get(USER, headers=bearer(token), status=401)
    assert response.json == {"status": "fail", "message": BLACKLISTED}


def test_each_token_is_a_session_listed_newest_first(testapp: webtest.TestApp) -> None:
    first = register(testapp, "alice@example.com")
    second = login(testapp, "alice@example.com")
    third = testapp.post_json(LOGIN, ALICE, headers={"User-Agent": "curl/8.5.0"},
                              extra_environ={"REMOTE_ADDR": "203.0.113.7"}, status=200).json["access_token"]
    register(testapp, "bob@example.com")  # not alice's

    page = testapp.get(SESSIONS, headers=bearer(second), status=200).json
    assert page["total_items"] == 3
    assert [item["id"] for item in page["items"]] == [jti(third), jti(second), jti(first)]
    assert [item["current"] for item in page["items"]] == [False, True, False]
    newest = page["items"][0]
    assert set(newest) == {"id", "issued_at", "expires_at", "address", "user_agent", "current"}
    assert (newest["address"], newest["user_agent"]) == ("203.0.113.7", "curl/8.5.0")
    claims = jwt.decode(third, options={"verify_signature": False})
    assert newest["issued_at"] == utc_text(claims["iat"]) and newest["expires_at"] == utc_text(claims["exp"])


def utc_text(timestamp: float) -> str:
    return datetime.fromtimestamp(int(timestamp), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_user_agent_is_kept_to_255_characters_and_none_is_null(testapp: webtest.TestApp) -> None:
    long_agent = "Agent/" + "x" * 1000
    token = testapp.post_json("/api/v1/auth/register", ALICE, headers={"User-Agent": long_agent},
                              status=201).json["access_token"]
    login(testapp, "alice@example.com")
    items = testapp.get(SESSIONS, headers=bearer(token), status=200).json["items"]
    assert [item["user_agent"] for item in items] == [None, long_agent[:255]]


def test_a_user_agent_with_a_nul_is_stored_without_it(testapp: webtest.TestApp) -> None:
    """PostgreSQL text cannot hold a NUL: the login must not fail on one."""
    token = testapp.post_json(LOGIN.replace("login", "register"), ALICE, status=201,
                              extra_environ={"HTTP_USER_AGENT": "evil\x00agent"}).json["access_token"]
    items = testapp.get(SESSIONS, headers=bearer(token), status=200).json["items"]
    assert [item["user_agent"] for item in items] == ["evilagent"]


def test_sessions_page(testapp: webtest.TestApp) -> None:
    tokens = [register(testapp, "alice@example.com")] + [login(testapp, "alice@example.com")
                                                         for _ in range(6)]
    response = testapp.get(SESSIONS, {"page": 2, "per_page": 5}, headers=bearer(tokens[0]), status=200)
    page = response.json
    assert (page["total_items"], page["total_pages"]) == (7, 2)
    assert (page["has_prev"], page["has_next"]) == (True, False)
    assert [item["id"] for item in page["items"]] == [jti(tokens[1]), jti(tokens[0])]
    assert page["links"]["self"].endswith("/api/v1/auth/sessions?page=2&per_page=5")
    assert response.headers["Total-Count"] == "7"
    response = testapp.get(SESSIONS, {"per_page": 7}, headers=bearer(tokens[0]), status=400)
    assert response.json["errors"] == {"per_page": "must be one of 5, 10, 25, 50, 100"}


def test_ending_a_session_refuses_its_token_and_no_other(testapp: webtest.TestApp) -> None:
    current = register(testapp, "alice@example.com")
    other = login(testapp, "alice@example.com")
    response = testapp.delete(f"{SESSIONS}/{jti(other)}", headers=bearer(current), status=204)
    assert response.body == b""
    assert_blacklisted(testapp, other)
    items = testapp.get(SESSIONS, headers=bearer(current), status=200).json["items"]
    assert [item["id"] for item in items] == [jti(current)]
    # ended already: not one of the live sessions any more
    response = testapp.delete(f"{SESSIONS}/{jti(other)}", headers=bearer(current), status=404)
    assert response.json == {"status": "fail", "message": f"Session {jti(other)} not found."}


def test_the_current_session_may_be_ended(testapp: webtest.TestApp) -> None:
    token = register(testapp, "alice@example.com")
    testapp.delete(f"{SESSIONS}/{jti(token)}", headers=bearer(token), status=204)
    assert_blacklisted(testapp, token)


def test_another_users_session_is_not_found_and_stays(testapp: webtest.TestApp) -> None:
    alice = register(testapp, "alice@example.com")
    bob = register(testapp, "bob@example.com")
    response = testapp.delete(f"{SESSIONS}/{jti(bob)}", headers=bearer(alice), status=404)
    assert response.json == {"status": "fail", "message": f"Session {jti(bob)} not found."}
    testapp.get(USER, headers=bearer(bob), status=200)


@pytest.mark.parametrize("session_id", [
    "0" * 32, "%00", "abc%00def", "x" * 65, "%E2%98%83", "..", "a.b", "%20",
])
def test_unknown_or_malformed_session_ids_are_not_found(testapp: webtest.TestApp, session_id: str) -> None:
    token = register(testapp, "alice@example.com")
    response = testapp.delete(f"{SESSIONS}/{session_id}", headers=bearer(token), status=404)
    assert response.json["status"] == "fail"
    assert re.fullmatch(r"Session .* not found\.", response.json["message"], re.S)
    testapp.get(USER, headers=bearer(token), status=200)


def test_an_expired_session_is_not_listed(testapp: webtest.TestApp) -> None:
    token = register(testapp, "alice@example.com")
    old = login(testapp, "alice@example.com")
    Session.update(expires_at=utcnow() - timedelta(seconds=1)).where(Session.jti == jti(old)).execute()
    items = testapp.get(SESSIONS, headers=bearer(token), status=200).json["items"]
    assert [item["id"] for item in items] == [jti(token)]
    testapp.delete(f"{SESSIONS}/{jti(old)}", headers=bearer(token), status=404)


def test_logout_ends_the_session_and_logout_all_every_one(testapp: webtest.TestApp) -> None:
    tokens = [register(testapp, "alice@example.com")] + [login(testapp, "alice@example.com")
                                                         for _ in range(3)]
    testapp.post("/api/v1/auth/logout", headers=bearer(tokens[3]), status=200)
    items = testapp.get(SESSIONS, headers=bearer(tokens[0]), status=200).json["items"]
    assert {item["id"] for item in items} == {jti(token) for token in tokens[:3]}
    testapp.post("/api/v1/auth/logout-all", headers=bearer(tokens[0]), status=200)
    assert Session.select().count() == 0
    fresh = login(testapp, "alice@example.com")
    assert [item["id"] for item in testapp.get(SESSIONS, headers=bearer(fresh)).json["items"]] == [jti(fresh)]


def test_a_signed_token_without_a_session_is_refused(testapp: webtest.TestApp, config: Config) -> None:
    """Such as one issued before the upgrade to sessions, or by a process with the key but
    not the database: the allow-list decides, not the signature alone."""
    register(testapp, "alice@example.com")
    user = User.by_email("alice@example.com")
    assert user is not None
    assert_blacklisted(testapp, issue_token(user.public_id, False, KeyRing.from_config(config), 300))


def test_a_session_of_another_user_does_not_admit_a_token(testapp: webtest.TestApp,
                                                          config: Config) -> None:
    """A jti belongs to one user: the same jti signed for another user is refused."""
    alice = register(testapp, "alice@example.com")
    register(testapp, "bob@example.com")
    bob = User.by_email("bob@example.com")
    assert bob is not None
    forged = issue_token(bob.public_id, False, KeyRing.from_config(config), 300, jti=jti(alice))
    assert_blacklisted(testapp, forged)


# The authenticated request path: one query for the token and its user, and no write.

@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every SQL statement the database runs while the test records (all go through
    Database.execute_sql, on SQLite and PostgreSQL alike)."""
    recorded: list[str] = []
    db = database.obj
    original = db.execute_sql

    def execute_sql(sql: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        recorded.append(sql)
        return original(sql, params, *args, **kwargs)

    monkeypatch.setattr(db, "execute_sql", execute_sql)
    yield recorded


def test_an_authenticated_request_costs_one_query_for_token_and_user(
        testapp: webtest.TestApp, admin_headers: dict[str, str], statements: list[str]) -> None:
    testapp.post_json("/api/v1/widgets", widget_body("counted"), headers=admin_headers, status=201)

    statements.clear()
    testapp.get(USER, headers=admin_headers, status=200)
    assert len(statements) == 1, statements
    assert re.search(r'EXISTS\(SELECT 1 FROM "sessions".* FROM "users"', statements[0])

    statements.clear()
    testapp.get("/api/v1/widgets/counted", headers=admin_headers, status=200)
    assert len(statements) == 2, statements  # the token and user, then the widget and owner
    assert 'FROM "sessions"' in statements[0] and 'FROM "widgets"' in statements[1]
    assert not any(re.match(r"\s*(INSERT|UPDATE|DELETE)", sql, re.I) for sql in statements)
