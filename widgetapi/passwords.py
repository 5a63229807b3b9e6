"""bcrypt password hashing, bounded per process.

bcrypt is slow on purpose and holds a CPU while it runs, so a flood of logins could take
every server thread. Every hash and check goes through `hashing_slot()`: at most
PASSWORD_HASH_CONCURRENCY run at once, a few more may wait (each up to HASH_WAIT_SECONDS; see
Config.hash_waiting), and the rest are refused at once with PasswordHashingBusy (503 +
Retry-After), leaving at least half the threads free for reads. `create_app` sets the bounds
with `limit_hashing`.
"""
from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import bcrypt

BCRYPT_MAX_BYTES = 72
HASH_WAIT_SECONDS = 5.0


class PasswordHashingBusy(Exception):
    """Every hashing slot is busy and the queue is full, or the wait was too long."""

    retry_after = int(HASH_WAIT_SECONDS)


class HashingLimiter:
    """At most `concurrency` holders at once, and at most `waiting` more waiting, each at
    most `wait_seconds`."""

    def __init__(self, concurrency: int, waiting: int, wait_seconds: float = HASH_WAIT_SECONDS) -> None:
        self.concurrency = concurrency
        self._slots = threading.BoundedSemaphore(concurrency)
        self._queue = threading.Semaphore(waiting)
        self._wait_seconds = wait_seconds

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self._slots.acquire(blocking=False):
            if not self._queue.acquire(blocking=False):
                raise PasswordHashingBusy()
            try:
                if not self._slots.acquire(timeout=self._wait_seconds):
                    raise PasswordHashingBusy()
            finally:
                self._queue.release()
        try:
            yield
        finally:
            self._slots.release()


_limiter = HashingLimiter(1, 0)


def limit_hashing(concurrency: int, waiting: int, wait_seconds: float = HASH_WAIT_SECONDS) -> None:
    """Bound this process's password hashing (create_app calls it with the configuration's)."""
    global _limiter
    _limiter = HashingLimiter(concurrency, waiting, wait_seconds)


def hashing_slot() -> AbstractContextManager[None]:
    """Context manager: a slot of this process's bounded hashing, or PasswordHashingBusy.
    hash_password and check_password take one themselves; use it around any other bcrypt call."""
    return _limiter.slot()


def hash_password(password: str, rounds: int) -> str:
    with hashing_slot():
        return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode("ascii")


def check_password(password: str, password_hash: str | None, rounds: int) -> bool:
    """True when the password matches the hash. With no hash (an unknown email) or a
    password bcrypt cannot take, the same bcrypt work is done before saying False,
    so the response time does not tell whether an account exists."""
    candidate = password.encode()
    with hashing_slot():
        if password_hash is None or len(candidate) > BCRYPT_MAX_BYTES:
            bcrypt.checkpw(b"", password_hash.encode() if password_hash else _dummy_hash(rounds))
            return False
        return bcrypt.checkpw(candidate, password_hash.encode())


def needs_rehash(password_hash: str, rounds: int) -> bool:
    """Whether a stored hash's cost differs from `rounds` (say, made with another
    BCRYPT_LOG_ROUNDS): such accounts are re-hashed at their next successful login, so that
    every account costs the same to check and none stands out by its speed."""
    parts = password_hash.split("$")
    return len(parts) < 3 or not parts[2].isdigit() or int(parts[2]) != rounds


@functools.cache
def _dummy_hash(rounds: int) -> bytes:
    return bcrypt.hashpw(b"no account has this password", bcrypt.gensalt(rounds))
