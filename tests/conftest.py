"""Fixtures: a fresh database and app per test, and helpers to get tokens.

The suite runs on a temporary SQLite file by default; set WIDGETAPI_TEST_DATABASE_URL
(e.g. postgresql://postgres@127.0.0.1:5432/widgetapi_test) to run it on PostgreSQL instead.
The tests create that database when it is missing (and then drop it at the end), and in
any case create and drop widgetapi's tables in it: name a database for tests alone.
With WIDGETAPI_TEST_PGBOUNCER=1 as well, the tests reach that database through a PgBouncer
in transaction pooling that they start (tests/pgbouncer.py), as `?pgbouncer=true`.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlparse

import falcon
import jwt
import pytest
import webtest
from smtp_server import Certificates, Inbox, SmtpServer, make_certificates, smtp_server
from tcp_proxy import TcpProxy

from widgetapi import operations, throttle
from widgetapi.app import create_app
from widgetapi.config import Config
from widgetapi.db import close_database, database, open_database
from widgetapi.keys import write_key_pair
from widgetapi.models import MODELS, Session, User
from widgetapi.purge import wait_all as wait_for_purges
from widgetapi.sender import stop_all as stop_mail_senders
from widgetapi.spec import load_spec

TEST_DATABASE_URL = os.environ.get("WIDGETAPI_TEST_DATABASE_URL", "").strip()
THROUGH_PGBOUNCER = os.environ.get("WIDGETAPI_TEST_PGBOUNCER", "").strip() == "1"

PASSWORD = "correct horse battery"
SECRET_KEY = "test-secret-key-that-is-long-enough-for-hs256"


def on_postgresql() -> bool:
    return urlparse(TEST_DATABASE_URL).scheme in ("postgres", "postgresql")


@pytest.fixture(autouse=True)
def caplog_sees_widgetapi(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """widgetapi's loggers have their own handler and do not propagate to the root logger,
    where caplog listens: give caplog's handler to them as well."""
    loggers = [logging.getLogger(name) for name in ("widgetapi", "waitress")]
    for logger in loggers:
        logger.addHandler(caplog.handler)
    yield
    for logger in loggers:
        logger.removeHandler(caplog.handler)


@pytest.fixture(scope="session")
def postgresql_database() -> Iterator[str | None]:
    """The PostgreSQL test database's URL (None on SQLite): created for the session when it
    does not exist yet, and then dropped at its end."""
    if not on_postgresql():
        yield None
        return
    import pgadmin

    created = pgadmin.create_database_if_missing(TEST_DATABASE_URL)
    if THROUGH_PGBOUNCER:
        from pgbouncer import pgbouncer

        with pgbouncer(TEST_DATABASE_URL) as url:
            yield url
            close_database()
    else:
        yield TEST_DATABASE_URL
        close_database()
    if created:
        pgadmin.drop_database(TEST_DATABASE_URL)


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A throwaway CA and the test SMTP server's certificate (tests/smtp_server.py)."""
    return make_certificates(tmp_path_factory.mktemp("certificates"))


@pytest.fixture
def inbox() -> Inbox:
    """What the test SMTP server receives (and how it misbehaves)."""
    return Inbox()


@pytest.fixture
def smtp(certificates: Certificates, inbox: Inbox) -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd: STARTTLS required, AUTH) for the test."""
    with smtp_server(certificates, inbox=inbox) as server:
        yield server


@pytest.fixture
def database_url(tmp_path, postgresql_database: str | None) -> str:
    return postgresql_database or TEST_DATABASE_URL or f"sqlite:///{tmp_path / 'test.db'}"


# The suite logs in and registers many times from one address: throttling stays on, with
# limits no test reaches unless it means to (tests/test_throttle.py sets the real ones).
GENEROUS_RATE, GENEROUS_FAILURES = 100_000, 10_000
# The same for `widgetapi serve` and other servers started from the environment.
GENEROUS_THROTTLE_ENV = {"AUTH_RATE_PER_MINUTE": "100000", "LOGIN_MAX_FAILURES": "10000"}
# The suite's tokens live long enough that no test depends on how fast the machine is (a
# loaded machine took 5.6 s for two `init-db` runs, past `testing`'s default of 5 s); tests
# of expiry make their tokens with the lifetime they need.
TOKEN_SECONDS = 300


@pytest.fixture
def throttle_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The throttle's clock (in this process), stopped in the middle of the current minute:
    a test's requests all count in one minute of AUTH_RATE_PER_MINUTE, and a lockout lasts
    the whole test, however slow the machine."""
    stopped = throttle.utcnow().replace(second=30, microsecond=0)
    monkeypatch.setattr(throttle, "utcnow", lambda: stopped)
    return stopped


@pytest.fixture
def proxy(database_url: str) -> Iterator[TcpProxy]:
    """A TCP proxy to the PostgreSQL server of `database_url` (tests/tcp_proxy.py), started."""
    target = urlparse(database_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432)
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture
def config(database_url: str) -> Config:
    return Config(env="testing", database_url=database_url, secret_key=SECRET_KEY,
                  token_expire_seconds=TOKEN_SECONDS, bcrypt_log_rounds=4,
                  auth_rate_per_minute=GENEROUS_RATE, login_max_failures=GENEROUS_FAILURES)


def key_pair(directory: Path, name: str = "jwt") -> tuple[Path, Path]:
    """A new Ed25519 key pair in `directory`: (private key file, public key file)."""
    private, public = directory / f"{name}.pem", directory / f"{name}.pub.pem"
    write_key_pair(private, public)
    return private, public


@pytest.fixture
def eddsa_config(config: Config, tmp_path: Path) -> Config:
    """The test configuration, signing tokens with EdDSA and a new Ed25519 key."""
    private, _ = key_pair(tmp_path)
    return dataclasses.replace(config, jwt_algorithm="EdDSA", jwt_private_key_file=str(private))


def server_path(path: str) -> str:
    """The base path of the spec's `path`: its own server's (/.well-known/jwks.json is at the
    root of the host), else the document's (/api/v1)."""
    spec = load_spec()
    servers = spec["paths"][path].get("servers") or spec["servers"]
    return str(servers[0]["url"]).rstrip("/")


def drop_tables() -> None:
    with database.connection_context():
        database.drop_tables(MODELS, safe=True)


@pytest.fixture
def app(config: Config) -> Iterator[falcon.App]:
    """The app on an empty database; its tables are dropped and its connections closed after."""
    application = create_app(config)
    drop_tables()
    operations.init_db()
    yield application
    stop_mail_senders()  # the app's outbox sender, started by its first request
    wait_for_purges(timeout=30)  # the background purge a response may have started: its query ends first
    open_database(config.database_url)  # again: the test may have bound the models elsewhere
    drop_tables()
    close_database()


@pytest.fixture
def testapp(app: falcon.App) -> webtest.TestApp:
    return webtest.TestApp(app)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def register(testapp: webtest.TestApp, email: str, password: str = PASSWORD) -> str:
    """Register through the API and return the access token."""
    response = testapp.post_json("/api/v1/auth/register", {"email": email, "password": password}, status=201)
    return response.json["access_token"]


def login(testapp: webtest.TestApp, email: str, password: str = PASSWORD) -> str:
    response = testapp.post_json("/api/v1/auth/login", {"email": email, "password": password}, status=200)
    return response.json["access_token"]


def with_session(token: str) -> str:
    """Record the session of a token made outside the API, as the API does for each token
    it issues (a token without one is refused)."""
    claims = jwt.decode(token, options={"verify_signature": False})
    user = User.get(User.public_id == uuid.UUID(claims["sub"]))

    def naive(timestamp: float) -> datetime:
        return datetime.fromtimestamp(timestamp, timezone.utc).replace(tzinfo=None)

    with database.connection_context():
        Session.create(jti=claims["jti"], user=user, issued_at=naive(claims["iat"]),
                       expires_at=naive(claims["exp"]), generation=user.token_generation)
    return token


@pytest.fixture
def user_headers(testapp: webtest.TestApp) -> dict[str, str]:
    return bearer(register(testapp, "user@example.com"))


@pytest.fixture
def admin_headers(testapp: webtest.TestApp, config: Config) -> dict[str, str]:
    operations.create_admin(config, "admin@example.com", lambda: PASSWORD)
    return bearer(login(testapp, "admin@example.com"))
