"""Keeping the sessions table small: sessions whose token has expired anyway go; and
throttling rows that no longer count."""
from __future__ import annotations

import logging
import threading
import time
import weakref
from datetime import timedelta

import falcon

from widgetapi import throttle
from widgetapi.db import database
from widgetapi.models import Session

log = logging.getLogger(__name__)

# A session stays this much longer after its token expired, for servers whose clock lags
# and would still accept the token (its session must still be there to be refused as expired).
CLOCK_SKEW_MARGIN = timedelta(minutes=5)

_purges: weakref.WeakSet[OpportunisticPurge] = weakref.WeakSet()


def purge_expired_tokens() -> int:
    """Delete the sessions of tokens that have expired; returns how many."""
    with database.connection_context():
        return Session.purge_expired(CLOCK_SKEW_MARGIN)


def purge_throttle_records() -> int:
    """Delete throttling counts and lockouts that no longer count; returns how many."""
    with database.connection_context():
        return throttle.purge_stale()


class OpportunisticPurge:
    """Falcon middleware: at most once every `interval` seconds per process, after a
    response, purge expired sessions in a background thread so no request waits for it."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._last = time.monotonic()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        _purges.add(self)

    def process_response(self, req: falcon.Request, resp: falcon.Response,
                         resource: object, req_succeeded: bool) -> None:
        if time.monotonic() - self._last < self._interval or not self._lock.acquire(blocking=False):
            return
        self._last = time.monotonic()
        self._thread = threading.Thread(target=self._purge, name="widgetapi-purge", daemon=True)
        self._thread.start()

    def _purge(self) -> None:
        try:
            count = purge_expired_tokens()
            if count:
                log.info("purged %d expired sessions", count)
            purge_throttle_records()
        except Exception:  # the next interval tries again
            log.warning("purging expired sessions failed", exc_info=True)
        finally:
            self._lock.release()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a purge under way to finish (for tests and shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)


def wait_all(timeout: float | None = None) -> None:
    """Wait for every purge under way in this process (before its database is closed)."""
    for purge in list(_purges):
        purge.wait(timeout)
