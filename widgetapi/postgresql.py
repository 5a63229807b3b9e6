"""PostgreSQL through psycopg's own pool (psycopg_pool), directly or behind PgBouncer.

Imported only when DATABASE_URL names PostgreSQL: psycopg is not loaded otherwise.

Why not Peewee's pool: it opens connections inside Database.connect()'s process-wide lock
and pings every connection it hands out, so one check-out that hangs (a database that
stalls) holds every other thread's. Here a connection is taken from psycopg_pool with a
bounded wait, new connections are made by the pool's own workers, no lock is held while
waiting, and a connection is pinged only when it has been idle a while (a dropped one is
seen without a round trip: its socket has something to read).

PgBouncer in transaction pooling (`?pgbouncer=true` in DATABASE_URL) hands each
transaction to any server connection, so nothing may live in the session: no server-side
prepared statements (prepare_threshold=None), no `options` startup parameter (PgBouncer
refuses it), and the statement timeout is set with SET LOCAL in every transaction, each
statement outside one running in a transaction of its own.
"""
from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import peewee
import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import ConnStatus, TransactionStatus
from psycopg.types.json import Json, Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from widgetapi.circuit import Circuit
from widgetapi.deadlines import WATCHDOG

log = logging.getLogger(__name__)

T = TypeVar("T")

# Peewee looks for psycopg when it is imported, and widgetapi imports Peewee without it (so
# that SQLite never loads the driver): give it the driver now.
_peewee: Any = peewee
if _peewee.psycopg is None:
    _peewee.psycopg, _peewee.TransactionStatus = psycopg, TransactionStatus
    _peewee.Json_pg3, _peewee.Jsonb_pg3 = Json, Jsonb
    _peewee.Psycopg3Adapter.txn_idle = TransactionStatus.IDLE
    _peewee.Psycopg3Adapter.txn_inerror = TransactionStatus.INERROR
    _peewee.Psycopg3Adapter.txn_unknown = TransactionStatus.UNKNOWN

PING_AFTER_IDLE_SECONDS = 30
MAX_IDLE_SECONDS = 300
MAX_LIFETIME_SECONDS = 1800

# Errors after which the connection cannot be trusted with another statement: it is closed
# (the pool replaces it) and the request gets a 503. The connection failures (class 08, a
# server shut down, a socket the watchdog broke) mean the database may be down too; the
# others are what a pooler that swapped the server connection underneath causes.
SESSION_MISMATCH_SQLSTATES = frozenset({
    "26000",  # invalid_sql_statement_name: prepared statement "_pg3_0" does not exist
    "42P05",  # duplicate_prepared_statement: prepared statement "_pg3_0" already exists
})
CONNECTION_FAILURE_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})  # shutdown, cannot connect now


class ConnectionUnusable(psycopg.OperationalError):
    """The connection was closed after an error that leaves it unusable."""


class StaleConnection(psycopg.OperationalError):  # one level below psycopg's, for Peewee
    """The first statement on a connection just taken from the pool failed at once: the
    server had dropped it while it was idle (a restart, a pooler's timeout) before it saw
    the statement, which can go again on another connection."""


# A connection's first statement that fails faster than this found it dead already (one
# broken by the watchdog took QUERY_DEADLINE_SECONDS).
STALE_WITHIN_SECONDS = 0.5


class _ConnectionErrors(logging.Filter):
    """psycopg_pool logs every failed connection attempt of its workers as a warning, again
    and again while the database is down: keep the last one, for the error a request gets
    (and the log line that says why it got a 503), instead of a line per attempt."""

    def __init__(self) -> None:
        super().__init__()
        self.last: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith("error connecting in"):
            self.last = " ".join(str(record.args[-1] if isinstance(record.args, tuple) else "").split())
            return False
        return not (isinstance(record.msg, str) and record.msg.startswith("reconnection attempt"))


CONNECTION_ERRORS = _ConnectionErrors()
logging.getLogger("psycopg.pool").addFilter(CONNECTION_ERRORS)


def _connection_failed(error: psycopg.Error, connection: psycopg.Connection) -> bool:
    state = error.sqlstate or ""
    return (connection.closed or connection.pgconn.status == ConnStatus.BAD
            or state.startswith("08") or state in CONNECTION_FAILURE_SQLSTATES)


def cursor_class(circuit: Circuit) -> type[psycopg.Cursor]:
    """A cursor whose every execute() is bounded by the query watchdog, reports to
    `circuit`, and closes its connection after an error that leaves it unusable."""

    class Cursor(psycopg.Cursor):
        def execute(self, *args: Any, **kwargs: Any) -> Any:
            connection = self.connection
            first = getattr(connection, "widgetapi_fresh", False)
            if first:
                connection.widgetapi_fresh = False  # type: ignore[attr-defined]
            started = time.monotonic()
            try:
                with circuit.call(), WATCHDOG.deadline(connection):
                    result = super().execute(*args, **kwargs)
            except psycopg.Error as error:
                if error.sqlstate in SESSION_MISMATCH_SQLSTATES:
                    connection.close()
                    raise ConnectionUnusable(f"database connection unusable: {error}") from error
                if isinstance(error, pg_errors.QueryCanceled) or not _connection_failed(error, connection):
                    raise  # a slow statement or a bad one: the database itself is fine
                connection.close()
                if first and time.monotonic() - started < STALE_WITHIN_SECONDS:
                    raise StaleConnection(f"database connection lost: {error}") from error
                circuit.failed()
                raise ConnectionUnusable(f"database connection lost: {error}") from error
            circuit.succeeded()
            return result

    return Cursor


class PooledPostgresql(peewee.PostgresqlDatabase):
    """Peewee's PostgreSQL database over a psycopg_pool pool, admitted by a Circuit.

    Each thread has its own connection state (Peewee's), taken from the pool on connect()
    and given back on close(), with no process-wide lock around either."""

    _state: Any  # Peewee's, not in its stubs
    _adapter: Any

    def __init__(self, database: str, *, max_connections: int, wait_seconds: float,
                 circuit: Circuit, pgbouncer: bool, statement_timeout_ms: int,
                 **connect_params: Any) -> None:
        super().__init__(database, prefer_psycopg3=True)
        self.circuit = circuit
        self.pgbouncer = pgbouncer
        self.statement_timeout_ms = statement_timeout_ms
        self._wait_seconds = wait_seconds
        kwargs: dict[str, Any] = {**connect_params, "autocommit": True,
                                  "cursor_factory": cursor_class(circuit)}
        if pgbouncer:
            kwargs["prepare_threshold"] = None
        else:
            options = str(kwargs.get("options") or "")
            if "statement_timeout" not in options:
                kwargs["options"] = f"{options} -c statement_timeout={statement_timeout_ms}".strip()
        self._pool_options: dict[str, Any] = dict(
            conninfo=database, kwargs=kwargs, min_size=1, max_size=max_connections, timeout=wait_seconds,
            max_idle=MAX_IDLE_SECONDS, max_lifetime=MAX_LIFETIME_SECONDS,
            # Give up a failing connection attempt soon: the next request asks for a new one,
            # so the pool reconnects within seconds of the database coming back.
            reconnect_timeout=wait_seconds, check=self._check, name="widgetapi")
        self._pool: tuple[int, ConnectionPool] | None = None
        self._pool_lock = threading.Lock()

    @property
    def pool(self) -> ConnectionPool:
        """This process's pool, opened on first use: its workers are threads, which a forked
        process (a gunicorn worker, after the app was loaded in the master) does not have."""
        pool = self._pool
        if pool is None or pool[0] != os.getpid():
            with self._pool_lock:
                pool = self._pool
                if pool is None or pool[0] != os.getpid():
                    pool = self._pool = (os.getpid(), ConnectionPool(**self._pool_options, open=True))
        return pool[1]

    # Peewee's connect() and close() hold a process-wide lock; these hold none.
    def connect(self, reuse_if_open: bool = False) -> bool:
        if not self._state.closed:
            if reuse_if_open:
                return False
            raise peewee.OperationalError("Connection already opened.")
        self.circuit.enter()
        try:
            with self.circuit.call():
                connection = self.pool.getconn(self._wait_seconds)
        except PoolTimeout as error:
            self.circuit.failed()
            self.circuit.leave()
            why = CONNECTION_ERRORS.last or str(error)
            raise peewee.OperationalError(f"no database connection: {why}") from None
        except BaseException:
            self.circuit.leave()
            raise
        CONNECTION_ERRORS.last = None
        if self.server_version is None:
            self.server_version = connection.pgconn.server_version
        connection.widgetapi_fresh = True  # type: ignore[attr-defined]
        self._state.reset()
        self._state.set_connection(connection)
        return True

    def close(self) -> bool:
        if self.in_transaction():
            raise peewee.OperationalError("Attempting to close database while transaction is open.")
        if self._state.closed:
            return False
        connection = self._state.conn
        self._state.reset()
        try:
            self._give_back(connection)
        finally:
            self.circuit.leave()
        return True

    def _give_back(self, connection: psycopg.Connection) -> None:
        if not connection.closed and connection.pgconn.transaction_status != TransactionStatus.IDLE:
            try:  # here, under the deadline, not in the pool (which would wait for ever)
                connection.cursor().execute("ROLLBACK")
            except psycopg.Error:
                connection.close()
        connection.widgetapi_returned_at = time.monotonic()  # type: ignore[attr-defined]
        self.pool.putconn(connection)

    @staticmethod
    def _check(connection: psycopg.Connection) -> None:
        """Run by the pool on every check-out: a connection the server has dropped has
        something to read (its last words, or end of file); one idle long is pinged."""
        readable, _, _ = select.select([connection.pgconn.socket], [], [], 0)
        idle = time.monotonic() - getattr(connection, "widgetapi_returned_at", time.monotonic())
        try:
            if readable:
                raise psycopg.OperationalError("the server closed the connection")
            if idle > PING_AFTER_IDLE_SECONDS:
                connection.cursor().execute("SELECT 1")
        except psycopg.Error:
            connection.close()  # closed, so the pool discards it rather than keeping it
            raise

    def begin(self, isolation_level: Any = None, read_only: bool = False) -> None:
        statement = "BEGIN"
        if isolation_level:
            statement += f" ISOLATION LEVEL {self._adapter.isolation_level_str(isolation_level)}"
        if read_only:
            statement += " READ ONLY"
        if self.pgbouncer:  # one round trip: a statement without parameters may hold two
            statement += f"; SET LOCAL statement_timeout = {int(self.statement_timeout_ms)}"
        self._retrying_if_stale(lambda: self._run(statement))

    def _run(self, statement: str) -> None:
        with _peewee.__exception_wrapper__:
            self.cursor().execute(statement)

    def execute_sql(self, sql: str, params: Any = None) -> Any:
        if self.in_transaction():
            return super().execute_sql(sql, params)
        if self.pgbouncer:  # a statement alone, behind PgBouncer: a transaction of its own
            with self.atomic():
                return super().execute_sql(sql, params)
        return self._retrying_if_stale(lambda: super(PooledPostgresql, self).execute_sql(sql, params))

    def _retrying_if_stale(self, run: Callable[[], T]) -> T:
        """`run()`, and once more on another connection when it found its connection dead
        (StaleConnection: only a check-out's first statement, outside any transaction)."""
        try:
            return run()
        except peewee.OperationalError as error:
            if not isinstance(error.__context__, StaleConnection):
                raise
        self.close()
        self.connect()
        return run()

    def in_use(self) -> int:
        if self._pool is None:
            return 0
        stats = self.pool.get_stats()
        return int(stats.get("pool_size", 0) - stats.get("pool_available", 0))

    def close_all(self) -> None:
        """Close every connection; the next connect() opens a new pool."""
        if not self._state.closed:
            self._state.reset()
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None and pool[0] == os.getpid():
            pool[1].close(timeout=1)
