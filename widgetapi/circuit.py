"""Admission to the database, so that a database that stalls cannot take the server.

Two rules, kept per process by `Circuit`:

- At most `slots` threads wait on the database at once: one thread fewer than the server
  has, so that one is always left for what needs no database (the spec, the UI, the index,
  /metrics). A thread that finds every slot taken by a thread in a database call waits for
  one, unless every holder has been stuck in its call for STUCK_SECONDS (then nothing will
  free up soon, and it gets a 503 at once instead of a queue behind a lock). When a holder
  is doing something else (hashing a password), the database is not the bottleneck and the
  thread goes in past the slots.
- Once the database has failed (it refused or dropped a connection, a query outlived its
  deadline, SQLite's write lock never came), the circuit opens: requests that need the
  database get a 503 at once, without waiting. After `retry_seconds` one request is let
  through as a probe; when it gets an answer from the database the circuit closes, and
  when it fails the circuit stays open for another `retry_seconds`.
"""
from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import peewee

RETRY_SECONDS = 1.0
STUCK_SECONDS = 0.5
SLOT_WAIT_SECONDS = 3.0
POLL_SECONDS = 0.05


class DatabaseUnavailable(peewee.OperationalError):
    """The database is known to be down or stuck: answered with 503 without trying it."""


class Circuit:
    """Slots for the threads that use the database, and the breaker described above."""

    def __init__(self, slots: int, retry_seconds: float = RETRY_SECONDS,
                 stuck_seconds: float = STUCK_SECONDS, wait_seconds: float = SLOT_WAIT_SECONDS) -> None:
        self.slots = max(1, slots)
        self._retry = retry_seconds
        self._stuck = stuck_seconds
        self._wait = wait_seconds
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)
        self._holders: set[int] = set()
        self._calls: dict[int, float] = {}  # thread -> when its current database call began
        self._open_until: float | None = None  # None: closed
        self._prober: int | None = None

    @property
    def is_open(self) -> bool:
        return self._open_until is not None

    def enter(self) -> None:
        """Take a slot for this thread, or raise DatabaseUnavailable."""
        me = threading.get_ident()
        with self._lock:
            if me in self._holders:
                return
            now = time.monotonic()
            if self._open_until is not None:
                if now < self._open_until or self._prober is not None:
                    raise DatabaseUnavailable("the database is unavailable (circuit open)")
                self._prober = me  # half open: this request finds out whether it is back
            deadline = now + self._wait
            while len(self._holders) >= self.slots and self._all_in_calls():
                if now >= deadline or self._all_stuck(now):
                    if self._prober == me:
                        self._prober = None
                    raise DatabaseUnavailable("every database connection is stuck or busy")
                self._freed.wait(min(POLL_SECONDS, deadline - now))
                now = time.monotonic()
            self._holders.add(me)

    def leave(self) -> None:
        """Give this thread's slot back (nothing when it has none)."""
        me = threading.get_ident()
        with self._lock:
            if me in self._holders:
                self._holders.discard(me)
                self._calls.pop(me, None)
                if self._prober == me:  # the probe ended without an answer either way
                    self._prober = None
                self._freed.notify()

    @contextlib.contextmanager
    def call(self) -> Iterator[None]:
        """Mark a database call of this thread, for telling a stuck thread from a busy one."""
        me = threading.get_ident()
        self._calls[me] = time.monotonic()
        try:
            yield
        finally:
            self._calls.pop(me, None)

    def failed(self) -> None:
        """The database failed a call: open the circuit (again) for `retry_seconds`."""
        with self._lock:
            self._open_until = time.monotonic() + self._retry
            if self._prober == threading.get_ident():
                self._prober = None

    def succeeded(self) -> None:
        """The database answered: close the circuit."""
        if self._open_until is not None:
            with self._lock:
                self._open_until = None
                self._prober = None

    def _all_in_calls(self) -> bool:
        """Whether every holder is waiting on the database now: when one is not (it hashes
        a password, writes a response), the database is not what holds it, and another
        request may go in even past the slots."""
        return all(holder in self._calls for holder in self._holders)

    def _all_stuck(self, now: float) -> bool:
        calls = self._calls
        return all(now - calls.get(holder, now) >= self._stuck for holder in self._holders)
