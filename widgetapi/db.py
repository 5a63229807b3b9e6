"""The database handle: opened from DATABASE_URL, a pooled connection per request."""
from __future__ import annotations

import contextlib
import importlib.util
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import falcon
import peewee
from playhouse.pool import MaxConnectionsExceeded, PooledSqliteDatabase

from widgetapi.circuit import Circuit
from widgetapi.config import ConfigError

log = logging.getLogger(__name__)

database = peewee.DatabaseProxy()

# Per connection; WAL mode is a property of the file and is set once in open_database.
# busy_timeout: a writer waits this long (ms) for another instead of failing with
# "database is locked" (then the request gets a 503, within the 5 s a health check has):
# writes here take milliseconds, so only a stuck writer makes anyone wait that long.
# cache_size: each pooled connection keeps at most this many KiB of pages (negative:
# KiB), so a process's memory is bounded whatever the database's size.
SQLITE_PRAGMAS = {"foreign_keys": 1, "synchronous": "normal", "busy_timeout": 3_000,
                  "cache_size": -2_000}

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

# `?pgbouncer=true` in a PostgreSQL URL: PgBouncer in transaction pooling is in between
# (see widgetapi/postgresql.py).
PGBOUNCER_PARAMETER = "pgbouncer"

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
    `max_connections` (one per server thread, plus one for background work), of which all
    but two serve requests at once (see widgetapi/circuit.py). A malformed URL is a
    ConfigError."""
    check_database_url(url)
    circuit = Circuit(slots=max_connections - 2)
    if urlsplit(url).scheme == "sqlite":
        db = _open_sqlite(url, max_connections, circuit)
    else:
        db = _open_postgresql(url, max_connections, circuit)
    close_database()
    database.initialize(db)
    return db


class PooledSqlite(PooledSqliteDatabase):
    """Peewee's SQLite pool, admitted by a Circuit: a write lock that another process
    holds for too long makes requests fail fast rather than queue (widgetapi/circuit.py)."""

    def __init__(self, *args: Any, circuit: Circuit, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.circuit = circuit
        self._retired: dict[int, Any] = {}  # in use when close_all ran: closed when returned

    def close_all(self) -> None:
        """Close this thread's connection and the idle ones; a connection that another thread
        is using (a background purge, the mail sender) is closed when that thread returns it.
        Peewee's close_all closes it at once, and closing an sqlite3 connection under a query
        that another thread runs can crash the process."""
        self.close()
        with self._pool_lock:
            self.close_idle()
            self._retired.update((key, used.connection) for key, used in self._in_use.items())

    def _close(self, conn: Any, close_conn: bool = False) -> None:
        with self._pool_lock:
            retired = self._retired.pop(self.conn_key(conn), None) is conn
            super()._close(conn, close_conn or retired)

    def connect(self, reuse_if_open: bool = False) -> bool:
        if not self.is_closed():
            return super().connect(reuse_if_open)
        self.circuit.enter()
        try:
            return super().connect(reuse_if_open)
        except BaseException:
            self.circuit.leave()
            raise

    def close(self) -> bool:
        try:
            return super().close()
        finally:
            if self.is_closed():
                self.circuit.leave()

    def _execute_cursor(self, sql: str, params: Any, **options: Any) -> Any:
        with self._watched():
            return super()._execute_cursor(sql, params, **options)

    def begin(self, lock_type: str | None = None) -> None:
        with self._watched():  # BEGIN IMMEDIATE waits for the write lock
            super().begin(lock_type)

    @contextlib.contextmanager
    def _watched(self) -> Iterator[None]:
        try:
            with self.circuit.call():
                yield
        except peewee.OperationalError as error:
            if "locked" in str(error) or "busy" in str(error):  # busy_timeout ran out
                self.circuit.failed()
            raise
        self.circuit.succeeded()

    def in_use(self) -> int:
        return len(self._in_use)


def _open_sqlite(url: str, max_connections: int, circuit: Circuit) -> peewee.Database:
    # Not playhouse.db_url: it imports every driver Peewee knows, psycopg among them.
    params: dict[str, Any] = {"database": unquote(urlsplit(url).path[1:]), "pragmas": SQLITE_PRAGMAS}
    if params["database"] == ":memory:":  # private to one connection: nothing to pool or share
        return peewee.SqliteDatabase(**params)
    # Pooled, not opened per request: closing a WAL database's last connection checkpoints
    # and deletes the WAL file, which would cost every request a checkpoint and a re-open.
    # Peewee hands a connection to one thread at a time, so it may move between threads.
    db = PooledSqlite(max_connections=max_connections, stale_timeout=POOL_STALE_SECONDS,
                      timeout=POOL_WAIT_SECONDS, check_same_thread=False, circuit=circuit, **params)
    with db.connection_context():
        db.pragma("journal_mode", "wal")
    return db


def _open_postgresql(url: str, max_connections: int, circuit: Circuit) -> peewee.Database:
    if importlib.util.find_spec("psycopg") is None or importlib.util.find_spec("psycopg_pool") is None:
        raise ConfigError("PostgreSQL needs its driver: pip install 'widgetapi[postgres]'")
    from widgetapi.postgresql import PooledPostgresql  # loads psycopg: PostgreSQL only

    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    pgbouncer = query.pop(PGBOUNCER_PARAMETER, "false").lower() in ("1", "true", "yes", "on")
    defaults = {name: value for name, value in PG_CONNECTION_DEFAULTS.items() if name not in query}
    conninfo = parts._replace(scheme="postgresql", query=urlencode(query)).geturl()
    return PooledPostgresql(conninfo, max_connections=max_connections, wait_seconds=POOL_WAIT_SECONDS,
                            circuit=circuit, pgbouncer=pgbouncer,
                            statement_timeout_ms=PG_STATEMENT_TIMEOUT_MS, **defaults)


def connections_in_use(db: peewee.Database) -> int:
    """How many of the pool's connections are checked out (0 for a database without one)."""
    in_use = getattr(db, "in_use", None)
    return int(in_use()) if in_use is not None else 0


def close_database() -> None:
    """Close every connection of the database the models are bound to, if any (a pool's
    idle connections too): for tests and for re-opening."""
    db = database.obj
    if db is None:
        return
    close_all = getattr(db, "close_all", None)
    if close_all is not None:
        close_all()
    elif not db.is_closed():
        db.close()


@contextlib.contextmanager
def snapshot() -> Iterator[None]:
    """One read-only transaction, so that the reads in the block see the database as of one
    moment (a page and its count): REPEATABLE READ on PostgreSQL, a read transaction on
    SQLite (its snapshot is taken at the first read and kept until the end)."""
    db = database.obj
    options = {"isolation_level": "REPEATABLE READ", "read_only": True} \
        if isinstance(db, peewee.PostgresqlDatabase) else {}
    with db.atomic(**options):
        yield


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
