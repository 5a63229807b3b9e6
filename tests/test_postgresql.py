"""PostgreSQL going away and coming back: 503s while it is gone, and recovery without a
restart. Runs when WIDGETAPI_TEST_DATABASE_URL names a PostgreSQL database."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from urllib.parse import urlparse

import falcon
import peewee
import pgadmin
import pytest
import webtest
from conftest import bearer, on_postgresql, register
from servers import race, request, threaded_server
from tcp_proxy import TcpProxy

from widgetapi.app import create_app
from widgetapi.config import Config
from widgetapi.db import database

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not on_postgresql(), reason="needs WIDGETAPI_TEST_DATABASE_URL=postgresql://..."),
]

UNAVAILABLE = {"status": "error", "message": "Service unavailable"}
RECOVERY_SECONDS = 10  # the server is back to work this soon after the database is


def recovers(status: Callable[[], int], seconds: float = RECOVERY_SECONDS) -> bool:
    """Whether `status()` (a health check) is 200 within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if status() == 200:
            return True
        time.sleep(0.1)
    return False


def test_requests_after_the_server_killed_every_connection_succeed(
        testapp: webtest.TestApp, database_url: str) -> None:
    """Pooled connections the server has dropped are noticed and replaced, not used."""
    headers = bearer(register(testapp, "alice@example.com"))
    testapp.get("/api/v1/auth/user", headers=headers, status=200)
    assert database.obj.pool.get_stats()["pool_available"], "the pool should hold an idle connection"

    assert pgadmin.terminate_connections(database_url) >= 1

    testapp.get("/api/v1/health", status=200)
    assert testapp.get("/api/v1/auth/user", headers=headers, status=200).json["email"] == "alice@example.com"


@pytest.fixture
def proxied(app: falcon.App, config: Config, proxy: TcpProxy) -> webtest.TestApp:
    """The app reaching PostgreSQL through the proxy (the tables come from `app`)."""
    url = urlparse(config.database_url)
    netloc = f"{url.username}@127.0.0.1:{proxy.port}" if url.username else f"127.0.0.1:{proxy.port}"
    # tokens outlive the outage and the recovery (the testing lifetime is 5 s)
    return webtest.TestApp(create_app(replace(config, database_url=url._replace(netloc=netloc).geturl(),
                                              token_expire_seconds=300)))


def test_an_outage_gives_503s_and_the_server_recovers_by_itself(
        proxied: webtest.TestApp, proxy: TcpProxy) -> None:
    headers = bearer(register(proxied, "alice@example.com"))
    proxied.get("/api/v1/health", status=200)

    proxy.stop()  # the database is gone: open connections break, new ones are refused
    health = proxied.get("/api/v1/health", status=503)
    assert health.json == UNAVAILABLE
    for response in (proxied.get("/api/v1/auth/user", headers=headers, status=503),
                     proxied.get("/api/v1/widgets", headers=headers, status=503),
                     proxied.post_json("/api/v1/auth/login",
                                       {"email": "alice@example.com", "password": "x" * 8}, status=503)):
        assert response.json == UNAVAILABLE
        assert response.content_type == "application/json"

    proxy.start()  # it is back: no restart needed, and within seconds
    assert recovers(lambda: proxied.get("/api/v1/health", expect_errors=True).status_int)
    assert proxied.get("/api/v1/health", status=200).json == {"status": "ok"}
    assert proxied.get("/api/v1/auth/user", headers=headers, status=200).json["email"] == "alice@example.com"


def test_an_unreachable_database_gives_503s(config: Config, proxy: TcpProxy) -> None:
    proxy.stop()
    url = urlparse(config.database_url)._replace(netloc=f"postgres@127.0.0.1:{proxy.port}").geturl()
    unreachable = webtest.TestApp(create_app(replace(config, database_url=url)))
    assert unreachable.get("/api/v1/health", status=503).json == UNAVAILABLE
    response = unreachable.post_json("/api/v1/auth/register",
                                     {"email": "alice@example.com", "password": "x" * 8}, status=503)
    assert response.json == UNAVAILABLE


def test_the_pool_is_sized_by_the_configuration(config: Config) -> None:
    create_app(replace(config, database_pool_size=7))
    assert database.obj.pool.max_size == 7


def test_every_connection_carries_its_timeouts(app: falcon.App) -> None:
    params = database.obj.pool.kwargs
    assert params["connect_timeout"] > 0 and params["tcp_user_timeout"] > 0 and params["keepalives"] == 1
    with database.connection_context():
        assert database.execute_sql("SHOW statement_timeout").fetchone()[0] == "2500ms"
        with pytest.raises(peewee.OperationalError):  # cancelled by the server, not waited out
            database.execute_sql("SELECT pg_sleep(30)")


HANG_GUARD = 20  # seconds: far past the deadlines, only so that a failing test cannot hang


@pytest.fixture
def proxied_server(app: falcon.App, config: Config, proxy: TcpProxy) -> Iterator[str]:
    """A real server (4 threads) reaching PostgreSQL through the proxy."""
    url = urlparse(config.database_url)
    netloc = f"{url.username}@127.0.0.1:{proxy.port}" if url.username else f"127.0.0.1:{proxy.port}"
    proxied = create_app(replace(config, database_url=url._replace(netloc=netloc).geturl(),
                                 token_expire_seconds=300, database_pool_size=5))
    with threaded_server(proxied, threads=4) as base_url:
        yield base_url


def test_a_hung_database_gives_503s_and_requests_without_it_go_on(
        proxied_server: str, proxy: TcpProxy) -> None:
    reply = request(proxied_server, "POST", "/api/v1/auth/register",
                    {"email": "alice@example.com", "password": "x" * 8})
    headers = {"Authorization": f"Bearer {reply.body['access_token']}"}
    assert request(proxied_server, "GET", "/api/v1/health").status == 200

    proxy.black_hole()  # open connections stay open, and nothing comes back any more
    health = request(proxied_server, "GET", "/api/v1/health", timeout=HANG_GUARD)
    assert (health.status, health.body) == (503, UNAVAILABLE)

    # more database requests than threads, and the spec, at once: the database requests fail
    # by their deadlines and the spec is served
    database_requests = [lambda: request(proxied_server, "GET", "/api/v1/widgets", headers=headers,
                                         timeout=HANG_GUARD) for _ in range(6)]
    spec_requests = [lambda: request(proxied_server, "GET", "/api/v1/openapi.json", timeout=HANG_GUARD)
                     for _ in range(3)]
    replies = race([*database_requests, *spec_requests])
    assert [reply.status for reply in replies] == [503] * 6 + [200] * 3
    assert all(reply.body == UNAVAILABLE for reply in replies[:6])

    proxy.stop()  # the network comes back: new connections, no restart
    proxy.start()
    assert recovers(lambda: request(proxied_server, "GET", "/api/v1/health", timeout=HANG_GUARD).status)
    assert request(proxied_server, "GET", "/api/v1/auth/user", headers=headers).status == 200


def test_preparing_the_schema_is_not_bounded_by_the_request_timeouts(app: falcon.App) -> None:
    """init-db waits for another process's schema lock, and migrations take what they take."""
    from widgetapi.deadlines import WATCHDOG

    with WATCHDOG.lifted(), database.connection_context(), database.atomic():
        database.execute_sql("SET LOCAL statement_timeout = 0")
        database.execute_sql("SELECT pg_sleep(4)")  # past the statement timeout and the deadline
