"""A deadline on every PostgreSQL query, kept by this process.

statement_timeout bounds what the server works on, TCP timeouts what the network loses;
neither helps when the server (or something between) takes the query and never answers:
a stopped server process, a black-holed proxy. Then the socket is healthy, the query is
acknowledged, and the driver would wait for ever, holding a server thread. So each query
registers its connection with a watchdog thread, which shuts the connection's socket down
once QUERY_DEADLINE_SECONDS have passed: the driver then fails the query at once (a
peewee OperationalError, which the API answers with 503) and the pool discards it.
"""
from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)

QUERY_DEADLINE_SECONDS = 3.0
CHECK_EVERY_SECONDS = 0.1


class Watchdog:
    """Breaks the connections whose query outlived its deadline."""

    def __init__(self, seconds: float = QUERY_DEADLINE_SECONDS) -> None:
        self.seconds = seconds
        self._lifted = threading.local()
        self._lock = threading.Lock()
        self._watched: dict[int, tuple[float, Any]] = {}
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def lifted(self) -> Iterator[None]:
        """No deadline for this thread's queries in the block: for operators' work (creating
        and migrating tables), which may rightly take long, never for requests."""
        self._lifted.on = True
        try:
            yield
        finally:
            self._lifted.on = False

    @contextlib.contextmanager
    def deadline(self, connection: Any) -> Iterator[None]:
        """While the block runs, `connection` (psycopg) is broken if it takes too long."""
        if getattr(self._lifted, "on", False):
            yield
            return
        key = id(connection)
        with self._lock:
            self._watched[key] = (time.monotonic() + self.seconds, connection)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="widgetapi-query-deadlines",
                                                daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._watched.pop(key, None)

    def _run(self) -> None:
        while True:
            time.sleep(CHECK_EVERY_SECONDS)
            now = time.monotonic()
            with self._lock:  # held while breaking: a query cannot finish and hand it on meanwhile
                for key, (deadline, connection) in list(self._watched.items()):
                    if now >= deadline:
                        del self._watched[key]
                        _break(connection)


def _break(connection: Any) -> None:
    log.error("a database query took over %s s: dropping its connection", QUERY_DEADLINE_SECONDS)
    try:
        # shutdown() acts on the socket itself, so a duplicate descriptor reaches it, and it
        # wakes the driver's wait (close() would not).
        with socket.fromfd(connection.pgconn.socket, socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except Exception:  # already closed, or a platform without fromfd
        log.warning("could not break a hung database connection", exc_info=True)


WATCHDOG = Watchdog()

