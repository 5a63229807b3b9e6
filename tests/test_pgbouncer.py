"""Behind PgBouncer in transaction pooling (`?pgbouncer=true`): every transaction may run on
another server connection, shared with other clients. Each test starts its own PgBouncer
(Debian's, tests/pgbouncer.py) with ONE server connection, so widgetapi and the other
client below always share it. Runs when WIDGETAPI_TEST_DATABASE_URL names PostgreSQL."""
from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

import falcon
import peewee
import pytest
import webtest
from conftest import PASSWORD, TEST_DATABASE_URL, bearer, on_postgresql, register
from pgbouncer import available, pgbouncer
from servers import request, threaded_server

from widgetapi.app import create_app
from widgetapi.config import Config
from widgetapi.db import database

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not on_postgresql(), reason="needs WIDGETAPI_TEST_DATABASE_URL=postgresql://..."),
    pytest.mark.skipif(not available(), reason="needs pgbouncer (apt-get install pgbouncer)"),
]


@pytest.fixture
def bouncer_url(app: falcon.App) -> Iterator[str]:
    """The test database (its tables made by `app`) through a PgBouncer of one server connection."""
    with pgbouncer(TEST_DATABASE_URL, pool_size=1) as url:
        yield url


@pytest.fixture
def other_client(bouncer_url: str) -> Iterator[object]:
    """Another application on the same PgBouncer, which uses its session as it likes:
    SETs and psycopg's default server-side prepared statements."""
    import psycopg

    url = bouncer_url.replace("pgbouncer=true", "").rstrip("?&")
    with psycopg.connect(url, autocommit=True, prepare_threshold=0) as connection:
        yield connection


@pytest.fixture
def bounced(config: Config, bouncer_url: str) -> webtest.TestApp:
    return webtest.TestApp(create_app(replace(config, database_url=bouncer_url, token_expire_seconds=300)))


def test_the_statement_timeout_holds_whatever_another_client_set(bounced: webtest.TestApp,
                                                                  other_client: object) -> None:
    other_client.execute("SET statement_timeout = 0")  # type: ignore[attr-defined]  # stays on the server connection
    with database.connection_context():
        assert database.execute_sql("SHOW statement_timeout").fetchone()[0] == "2500ms"
        with database.atomic():
            assert database.execute_sql("SHOW statement_timeout").fetchone()[0] == "2500ms"
        with pytest.raises(peewee.OperationalError):  # cancelled by the server, not waited out
            database.execute_sql("SELECT pg_sleep(30)")
    assert bounced.get("/api/v1/health", status=200).json == {"status": "ok"}


def test_no_statement_is_prepared_on_the_server(bounced: webtest.TestApp) -> None:
    headers = bearer(register(bounced, "alice@example.com"))
    for _ in range(20):  # psycopg prepares a statement from its fifth run unless told not to
        bounced.get("/api/v1/auth/user", headers=headers, status=200)
        bounced.get("/api/v1/widgets", headers=headers, status=200)
    with database.connection_context():  # the one server connection every request used
        assert database.execute_sql("SELECT count(*) FROM pg_prepared_statements").fetchone()[0] == 0


def test_an_error_that_leaves_the_connection_unusable_is_a_503_that_recovers(
        bounced: webtest.TestApp) -> None:
    with database.connection_context(), pytest.raises(peewee.OperationalError):  # 503, not a 500
        database.execute_sql("EXECUTE widgetapi_missing")  # prepared statement ... does not exist
    assert bounced.get("/api/v1/health", status=200).json == {"status": "ok"}


def test_requests_beside_a_client_that_prepares_statements_all_succeed(
        config: Config, bouncer_url: str, other_client: object) -> None:
    """The issue's 34 % of 500s: prepared statements of two clients meeting on one server
    connection (`_pg3_0` does not exist / already exists, or another client's statement run)."""
    served = create_app(replace(config, database_url=bouncer_url, token_expire_seconds=300))
    stop = threading.Event()

    def prepare_all_the_time() -> None:
        while not stop.is_set():
            for value in range(8):
                other_client.execute("SELECT %s::int + 1", (value,))  # type: ignore[attr-defined]

    with threaded_server(served, threads=4) as base_url:
        token = request(base_url, "POST", "/api/v1/auth/register",
                        {"email": "alice@example.com", "password": PASSWORD}).body["access_token"]
        other = threading.Thread(target=prepare_all_the_time)
        other.start()
        statuses: Counter[int] = Counter()
        lock = threading.Lock()

        def read() -> None:
            for path in ["/api/v1/auth/user", "/api/v1/widgets"] * 25:
                status = request(base_url, "GET", path, headers=bearer(token)).status
                with lock:
                    statuses[status] += 1

        readers = [threading.Thread(target=read) for _ in range(4)]
        try:
            for reader in readers:
                reader.start()
            for reader in readers:
                reader.join(timeout=120)
        finally:
            stop.set()
            other.join(timeout=30)
    assert statuses == {200: 200}
