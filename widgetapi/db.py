"""The database handle: opened from DATABASE_URL, a pooled connection per request."""
from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import falcon
import peewee
from playhouse import db_url
from playhouse.pool import (
    MaxConnectionsExceeded,
    PooledDatabase,
    PooledPostgresqlDatabase,
    PooledSqliteDatabase,
)

from widgetapi.config import ConfigError
from widgetapi.deadlines import deadline_cursor_class

log = logging.getLogger(__name__)

database = peewee.DatabaseProxy()

# Per connection; WAL mode is a property of the file and is set once in open_database.
# busy_timeout: a writer waits this long (ms) for another instead of failing with
# "database is locked" (then the request gets a 503): writes here take milliseconds, so
# only a stuck writer makes anyone wait that long.
SQLITE_PRAGMAS = {"foreign_keys": 1, "synchronous": "normal", "busy_timeout": 5_000}

# Pools: a request waits this long for a free connection before it gets a 503;
# connections are replaced after STALE seconds so server-side idle limits never bite.
POOL_WAIT_SECONDS = 3
POOL_STALE_SECONDS = 300

# Every PostgreSQL call is bounded, so that a database that hangs gives 503s within a few
# seconds instead of holding the server's threads (see widgetapi/deadlines.py):
# connecting (connect_timeout), a statement the server works on (statement_timeout), a
# network that drops packets (tcp_user_timeout for unacknowledged data, keepalives for an
# idle wait), and a server that takes the query but never answers (QUERY_DEADLINE_SECONDS,
# enforced by this process).
PG_CONNECT_TIMEOUT_SECONDS = 3
PG_STATEMENT_TIMEOUT_MS = 2_500
PG_CONNECTION_DEFAULTS = {
    "connect_timeout": PG_CONNECT_TIMEOUT_SECONDS,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 3_000,
}

# What a request sees when the database cannot serve it: the API answers 503.
UNAVAILABLE = (peewee.OperationalError, peewee.InterfaceError, MaxConnectionsExceeded)

POSTGRESQL_SCHEMES = ("postgres", "postgresql")
VALID_URLS = ("sqlite:///relative/path.db (three slashes), sqlite:////absolute/path.db (four) "
              "or postgresql://user:password@host:5432/database")


def check_database_url(url: str) -> None:
    """Raise ConfigError, in one line that shows valid URLs, unless `url` names a database
    the way open_database reads it. The URL in the message has its password masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is not None and parts.scheme in POSTGRESQL_SCHEMES:
        try:
            parts.port  # noqa: B018 -- a port that is not a number raises ValueError here
        except ValueError:
            raise ConfigError(f"DATABASE_URL {describe_database(url)!r} has a port that is not a number "
                              f"from 1 to 65535: use {VALID_URLS}") from None
    if parts is not None and parts.scheme == "sqlite":
        if parts.netloc:  # sqlite://name.db: the name lands where a host goes
            problem = "has two slashes after sqlite: where a file needs three"
        elif parts.path and not parts.path.startswith("/"):  # sqlite:data.db would open ata.db
            problem = f"has no slashes after sqlite: (a file is sqlite:///{parts.path})"
        else:
            problem = "" if parts.path.strip("/") else "names no file"
    elif parts is not None and parts.scheme in POSTGRESQL_SCHEMES:
        problem = "" if parts.path.strip("/") else "names no database"
    elif parts is not None and parts.scheme:
        problem = f"has the unsupported scheme {parts.scheme}://"
    else:
        problem = "is not a database URL"
    if problem:
        raise ConfigError(f"DATABASE_URL {describe_database(url)!r} {problem}: use {VALID_URLS}")


def describe_database(url: str) -> str:
    """How to show a database URL to people: an SQLite file by its absolute path, any
    other URL with its password masked as ***. The one place that prints a URL."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(a malformed URL)"
    if parts.scheme == "sqlite" and not parts.netloc and parts.path.strip("/"):
        name = parts.path[1:]
        return name if name == ":memory:" else str(Path(name).resolve())
    userinfo, at, host = parts.netloc.rpartition("@")
    if not (at and ":" in userinfo):
        return url
    masked = f"{userinfo.split(':', 1)[0]}:***@{host}"
    return url.replace(parts.netloc, masked, 1)


def open_database(url: str, max_connections: int = 5) -> peewee.Database:
    """Open the database named by a URL and bind the models to it, with a pool of at most
    `max_connections` (one per server thread, plus one for background work). A malformed
    URL is a ConfigError."""
    check_database_url(url)
    if urlsplit(url).scheme == "sqlite":
        db = _open_sqlite(url, max_connections)
    else:
        db = _open_postgresql(url, max_connections)
    close_database()
    database.initialize(db)
    return db


def _open_sqlite(url: str, max_connections: int) -> peewee.Database:
    params: dict[str, Any] = {**db_url.parse(url), "pragmas": SQLITE_PRAGMAS}
    if params["database"] == ":memory:":  # private to one connection: nothing to pool or share
        return peewee.SqliteDatabase(**params)
    # Pooled, not opened per request: closing a WAL database's last connection checkpoints
    # and deletes the WAL file, which would cost every request a checkpoint and a re-open.
    # Peewee hands a connection to one thread at a time, so it may move between threads.
    db = PooledSqliteDatabase(max_connections=max_connections, stale_timeout=POOL_STALE_SECONDS,
                              timeout=POOL_WAIT_SECONDS, check_same_thread=False, **params)
    with db.connection_context():
        db.pragma("journal_mode", "wal")
    return db


def _open_postgresql(url: str, max_connections: int) -> peewee.Database:
    if importlib.util.find_spec("psycopg") is None:
        raise ConfigError("PostgreSQL needs its driver: pip install 'widgetapi[postgres]'")
    params: dict[str, Any] = db_url.parse(url, unquote_password=True, unquote_user=True)
    for name, value in PG_CONNECTION_DEFAULTS.items():
        params.setdefault(name, value)
    options = str(params.get("options") or "")
    if "statement_timeout" not in options:
        params["options"] = f"{options} -c statement_timeout={PG_STATEMENT_TIMEOUT_MS}".strip()
    params["cursor_factory"] = deadline_cursor_class()
    return PooledPostgresqlDatabase(
        max_connections=max_connections, stale_timeout=POOL_STALE_SECONDS,
        timeout=POOL_WAIT_SECONDS, **params)


def close_database() -> None:
    """Close every connection of the database the models are bound to, if any (a pool's
    idle connections too): for tests and for re-opening."""
    db = database.obj
    if db is None:
        return
    if isinstance(db, PooledDatabase):
        db.close_all()
    elif not db.is_closed():
        db.close()


class ConnectionPerRequest:
    """Falcon middleware: Peewee connects on the first query; this closes that connection
    when the response is done, whether the responder succeeded or raised. Closing hands it
    back to the pool, which rolls back whatever a failed request left uncommitted."""

    def __init__(self, db: peewee.Database) -> None:
        self._db = db

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        if self._db.is_closed():
            return
        try:
            while self._db.in_transaction():  # Peewee refuses to close inside one
                self._db.pop_transaction()
            self._db.close()
        except Exception:  # Peewee forgets a connection that fails to close; the response stands
            log.warning("a database connection failed to close", exc_info=True)
