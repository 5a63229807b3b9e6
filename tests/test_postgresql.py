"""PostgreSQL going away and coming back: 503s while it is gone, and recovery without a
restart. Runs when WIDGETAPI_TEST_DATABASE_URL names a PostgreSQL database."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urlparse

import falcon
import pgadmin
import pytest
import webtest
from conftest import bearer, on_postgresql, register
from tcp_proxy import TcpProxy

from widgetapi.app import create_app
from widgetapi.config import Config
from widgetapi.db import database

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not on_postgresql(), reason="needs WIDGETAPI_TEST_DATABASE_URL=postgresql://..."),
]

UNAVAILABLE = {"status": "error", "message": "Service unavailable"}


def test_requests_after_the_server_killed_every_connection_succeed(
        testapp: webtest.TestApp, database_url: str) -> None:
    """Pooled connections the server has dropped are noticed and replaced, not used."""
    headers = bearer(register(testapp, "alice@example.com"))
    testapp.get("/api/v1/auth/user", headers=headers, status=200)
    assert database.obj._connections, "the pool should hold an idle connection"

    assert pgadmin.terminate_connections(database_url) >= 1

    testapp.get("/api/v1/health", status=200)
    assert testapp.get("/api/v1/auth/user", headers=headers, status=200).json["email"] == "alice@example.com"


@pytest.fixture
def proxy(database_url: str) -> Iterator[TcpProxy]:
    target = urlparse(database_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432)
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture
def proxied(app: falcon.App, config: Config, proxy: TcpProxy) -> webtest.TestApp:
    """The app reaching PostgreSQL through the proxy (the tables come from `app`)."""
    url = urlparse(config.database_url)
    netloc = f"{url.username}@127.0.0.1:{proxy.port}" if url.username else f"127.0.0.1:{proxy.port}"
    return webtest.TestApp(create_app(replace(config, database_url=url._replace(netloc=netloc).geturl())))


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

    proxy.start()  # it is back: no restart needed
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
    assert database.obj._max_connections == 7
