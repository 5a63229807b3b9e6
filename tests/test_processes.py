"""Several server processes, one database: what one process does, the others see at once.

Runs on the suite's database (SQLite file or PostgreSQL); `.ci/run` runs it on both."""
from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path

import falcon
import pytest
from conftest import GENEROUS_THROTTLE_ENV, PASSWORD, SECRET_KEY
from servers import gunicorn, race, request, server_process, waitress_serve, widgetapi_serve

from widgetapi import operations
from widgetapi.config import Config

pytestmark = pytest.mark.slow

RACERS = 20
BLACKLISTED = "Token blacklisted. Please log in again."
DEADLINE = "2099-12-31"


def server_env(database_url: str) -> dict[str, str]:
    return {"WIDGETAPI_ENV": "testing", "DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY,
            "TOKEN_EXPIRE_SECONDS": "300", "BCRYPT_LOG_ROUNDS": "4", "DATABASE_POOL_SIZE": "5",
            **GENEROUS_THROTTLE_ENV}


@pytest.fixture
def two_servers(app: falcon.App, config: Config, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two `widgetapi serve` processes on the test database (its tables made by `app`)."""
    env = server_env(config.database_url)
    with server_process(widgetapi_serve, env, tmp_path) as one, \
            server_process(widgetapi_serve, env, tmp_path) as other:
        yield one.url, other.url


def token(base_url: str, email: str) -> dict[str, str]:
    reply = request(base_url, "POST", "/api/v1/auth/login", {"email": email, "password": PASSWORD})
    assert reply.status == 200, reply.body
    return {"Authorization": f"Bearer {reply.body['access_token']}"}


def new_user(base_url: str, email: str) -> dict[str, str]:
    reply = request(base_url, "POST", "/api/v1/auth/register", {"email": email, "password": PASSWORD})
    assert reply.status == 201, reply.body
    return {"Authorization": f"Bearer {reply.body['access_token']}"}


def admin(config: Config, base_url: str) -> dict[str, str]:
    operations.create_admin(config, "admin@example.com", lambda: PASSWORD)
    return token(base_url, "admin@example.com")


def test_a_logout_on_one_process_is_refused_on_the_other(two_servers: tuple[str, str]) -> None:
    one, other = two_servers
    headers = new_user(one, "alice@example.com")
    assert request(other, "GET", "/api/v1/auth/user", headers=headers).status == 200

    assert request(one, "POST", "/api/v1/auth/logout", headers=headers).status == 200

    reply = request(other, "GET", "/api/v1/auth/user", headers=headers)
    assert (reply.status, reply.body) == (401, {"status": "fail", "message": BLACKLISTED})


def test_a_logout_everywhere_on_one_process_is_refused_on_the_other(two_servers: tuple[str, str]) -> None:
    one, other = two_servers
    tokens = [new_user(one, "alice@example.com"), token(other, "alice@example.com"),
              token(one, "alice@example.com")]

    assert request(other, "POST", "/api/v1/auth/logout-all", headers=tokens[0]).status == 200

    for server in two_servers:
        for headers in tokens:
            reply = request(server, "GET", "/api/v1/auth/user", headers=headers)
            assert (reply.status, reply.body) == (401, {"status": "fail", "message": BLACKLISTED})
    fresh = token(one, "alice@example.com")
    assert request(other, "GET", "/api/v1/auth/user", headers=fresh).status == 200


def refused_everywhere(servers: Sequence[str], headers: dict[str, str], message: str = BLACKLISTED) -> None:
    for server in servers:
        reply = request(server, "GET", "/api/v1/auth/user", headers=headers)
        assert (reply.status, reply.body) == (401, {"status": "fail", "message": message}), server


def user_path(base_url: str, admin_headers: dict[str, str], email: str) -> str:
    page = request(base_url, "GET", "/api/v1/users?per_page=100", headers=admin_headers).body
    public_id = next(user["public_id"] for user in page["items"] if user["email"] == email)
    return f"/api/v1/users/{public_id}"


def test_a_session_ended_on_one_process_is_refused_on_the_other(two_servers: tuple[str, str]) -> None:
    one, other = two_servers
    current, ended = new_user(one, "alice@example.com"), token(other, "alice@example.com")
    assert request(other, "GET", "/api/v1/auth/user", headers=ended).status == 200
    sessions = request(one, "GET", "/api/v1/auth/sessions", headers=current).body["items"]
    ended_id = next(session["id"] for session in sessions if not session["current"])

    assert request(one, "DELETE", f"/api/v1/auth/sessions/{ended_id}", headers=current).status == 204

    refused_everywhere(two_servers, ended)
    assert request(other, "GET", "/api/v1/auth/user", headers=current).status == 200


def test_a_password_changed_on_one_process_refuses_old_tokens_on_the_other(
        two_servers: tuple[str, str]) -> None:
    one, other = two_servers
    old = [new_user(one, "alice@example.com"), token(other, "alice@example.com")]
    assert request(other, "GET", "/api/v1/auth/user", headers=old[0]).status == 200
    body = {"current_password": PASSWORD, "new_password": "a brand new password"}

    reply = request(one, "POST", "/api/v1/auth/password", body, headers=old[1])

    assert reply.status == 200, reply.body
    for headers in old:
        refused_everywhere(two_servers, headers)
    fresh = {"Authorization": f"Bearer {reply.body['access_token']}"}
    assert request(other, "GET", "/api/v1/auth/user", headers=fresh).status == 200


def test_a_user_disabled_on_one_process_is_refused_on_the_other_until_enabled(
        two_servers: tuple[str, str], config: Config) -> None:
    one, other = two_servers
    boss = admin(config, one)
    alice = new_user(other, "alice@example.com")
    path = user_path(one, boss, "alice@example.com")

    assert request(one, "PATCH", path, {"disabled": True}, headers=boss).status == 200

    refused_everywhere(two_servers, alice)
    reply = request(other, "POST", "/api/v1/auth/login", {"email": "alice@example.com", "password": PASSWORD})
    assert (reply.status, reply.body["message"]) == (403, "This account is disabled")
    assert request(other, "PATCH", path, {"disabled": False}, headers=boss).status == 200
    assert request(one, "GET", "/api/v1/auth/user", headers=token(one, "alice@example.com")).status == 200
    refused_everywhere(two_servers, alice)


def test_a_user_logged_out_or_deleted_by_an_administrator_is_refused_on_the_other_process(
        two_servers: tuple[str, str], config: Config) -> None:
    one, other = two_servers
    boss = admin(config, one)
    alice = [new_user(other, "alice@example.com"), token(one, "alice@example.com")]
    path = user_path(other, boss, "alice@example.com")

    assert request(one, "POST", f"{path}/logout-all", headers=boss).status == 200
    for headers in alice:
        refused_everywhere(two_servers, headers)

    fresh = token(other, "alice@example.com")
    assert request(one, "DELETE", path, headers=boss).status == 204
    refused_everywhere(two_servers, fresh, "Invalid token. Please log in again.")


def test_concurrent_creates_of_one_name_across_processes_make_one_widget(
        two_servers: tuple[str, str], config: Config) -> None:
    headers = admin(config, two_servers[0])
    body = {"name": "contested", "info_url": "https://example.com/contested", "deadline": DEADLINE}
    results = race([partial(request, two_servers[i % 2], "POST", "/api/v1/widgets", body, headers)
                    for i in range(RACERS)])

    assert Counter(reply.status for reply in results) == {201: 1, 409: RACERS - 1}, results
    page = request(two_servers[1], "GET", "/api/v1/widgets?per_page=100", headers=headers).body
    assert [widget["name"] for widget in page["items"]] == ["contested"]


def test_concurrent_updates_across_processes_lose_nothing(
        two_servers: tuple[str, str], config: Config) -> None:
    headers = admin(config, two_servers[0])
    names = [f"widget-{i}" for i in range(RACERS)]
    for name in names:
        body = {"name": name, "info_url": "https://example.com/old", "deadline": DEADLINE}
        assert request(two_servers[0], "POST", "/api/v1/widgets", body, headers).status == 201

    # every widget updated at once, half through each process, plus one widget PUT into
    # existence by all racers together: one creates it, the others update it
    updates = [partial(request, two_servers[i % 2], "PUT", f"/api/v1/widgets/{name}",
                       {"info_url": f"https://example.com/{name}", "deadline": DEADLINE}, headers)
               for i, name in enumerate(names)]
    upserts = [partial(request, two_servers[i % 2], "PUT", "/api/v1/widgets/upserted",
                       {"info_url": f"https://example.com/upserted/{i}", "deadline": DEADLINE}, headers)
               for i in range(RACERS)]
    results = race([*updates, *upserts])

    assert all(reply.status == 200 for reply in results[:RACERS]), results[:RACERS]
    assert Counter(reply.status for reply in results[RACERS:]) == {201: 1, 200: RACERS - 1}, results[RACERS:]
    for i, name in enumerate(names):
        reply = request(two_servers[(i + 1) % 2], "GET", f"/api/v1/widgets/{name}", headers=headers)
        assert (reply.status, reply.body["info_url"]) == (200, f"https://example.com/{name}")
    widget = request(two_servers[1], "GET", "/api/v1/widgets/upserted", headers=headers).body
    assert widget["info_url"] in {f"https://example.com/upserted/{i}" for i in range(RACERS)}


@pytest.mark.skipif(sys.platform == "win32", reason="gunicorn runs on Unix only")
def test_the_readme_commands_gunicorn_workers_and_waitress_serve_share_one_database(
        app: falcon.App, config: Config, tmp_path: Path) -> None:
    env = server_env(config.database_url)
    with server_process(lambda port: gunicorn(port, workers=2), env, tmp_path) as gunicorn_process, \
            server_process(waitress_serve, env, tmp_path) as waitress_process:
        workers, waitress = gunicorn_process.url, waitress_process.url
        headers = new_user(waitress, "alice@example.com")
        # several requests, so that both gunicorn workers are likely to answer some
        statuses = [request(workers, "GET", "/api/v1/auth/user", headers=headers).status for _ in range(6)]
        assert statuses == [200] * 6
        assert request(workers, "POST", "/api/v1/auth/logout", headers=headers).status == 200
        assert request(waitress, "GET", "/api/v1/auth/user", headers=headers).status == 401
        for _ in range(6):
            assert request(workers, "GET", "/api/v1/auth/user", headers=headers).status == 401
