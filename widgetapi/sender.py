"""The mail sender: a thread in each server process that delivers the outbox (widgetapi/outbox.py)
through MAIL_URL (widgetapi/mail.py).

It starts with the server (`widgetapi serve`), or else with the first request a process serves
(gunicorn's forked workers, waitress-serve), never in the command line's one-shot commands, and
stops when the server does. It wakes when this process queues a mail, when the next retry or
expired claim is due, and at least every `mail_poll_seconds` (30) for mail other processes queued.
It holds a database connection only for its short queries, never while it talks SMTP, and asks
the database rarely when idle: each connection attempt to a database that hangs takes seconds.

A failed delivery is tried again after a delay that doubles each time (from `mail_retry_seconds`,
at most an hour) for 24 hours, then dropped with a log line; a recipient the server refuses
for good (5xx) is dropped at once. Nothing here logs a mail's content: a reset token appears in
a log only through MAIL_URL=log.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, Protocol

import falcon

from widgetapi.config import Config
from widgetapi.db import UNAVAILABLE, database
from widgetapi.mail import DELIVERY_TIMEOUTS, DeliveryFailed, deliver, parse_mail_url
from widgetapi.outbox import OutboxMail

log = logging.getLogger(__name__)

# A claim outlasts a whole delivery (mail.DELIVERY_TIMEOUTS steps) by one more timeout.
LEASE_TIMEOUTS = DELIVERY_TIMEOUTS + 1
HOUSEKEEPING_SECONDS = 600
MIN_WAIT_SECONDS = 0.05


class Composed(Protocol):
    message: Any

    def undo(self) -> None: ...


Composer = Callable[[OutboxMail], "Composed | None"]

_senders: weakref.WeakSet[MailSender] = weakref.WeakSet()
# Forks this process has been through: a forked child (a gunicorn worker) has no sender thread,
# whatever its parent had, and starts its own. Counted rather than asking os.getpid() on every
# request.
_forks = 0


def _forked() -> None:
    global _forks
    _forks += 1


if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=_forked)


class MailSender:
    """Delivers the outbox in a thread of this process; `composers` make each kind of mail."""

    def __init__(self, config: Config, composers: Mapping[str, Composer],
                 housekeeping: Callable[[], object] | None = None) -> None:
        assert config.mail_url is not None
        self._config = config
        self._server = parse_mail_url(config.mail_url)
        self._composers = dict(composers)
        self._housekeeping = housekeeping
        self._lease = timedelta(seconds=config.mail_timeout_seconds * LEASE_TIMEOUTS)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._started_in = -1  # the _forks count of the process that started the thread
        self._last_housekeeping = 0.0
        _senders.add(self)

    def start(self) -> None:
        """Start the thread in this process, unless it runs already (a forked child starts its own)."""
        if self._started_in == _forks or self._stopping.is_set():
            return
        with self._lock:
            if self._started_in == _forks:
                return
            self._thread = threading.Thread(target=self._run, name="widgetapi-mail", daemon=True)
            self._thread.start()
            self._started_in = _forks

    def wake(self) -> None:
        """A mail was queued: look now."""
        self._wake.set()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the delivery under way, if any (a stopped sender stays stopped)."""
        self._stopping.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and self._started_in == _forks and thread is not threading.current_thread():
            thread.join(self._config.mail_timeout_seconds * LEASE_TIMEOUTS if timeout is None else timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            idle = self._config.mail_poll_seconds
            try:
                if self.send_one():
                    continue
                with database.connection_context():
                    idle = min(idle, OutboxMail.seconds_to_next())
            except UNAVAILABLE as error:
                log.warning("mail sender: the database is unavailable (%s); trying again later", error)
            except Exception:
                log.exception("mail sender: unexpected error; trying again later")
            self._wake.wait(max(idle, MIN_WAIT_SECONDS))
            self._wake.clear()

    def send_one(self) -> bool:
        """Deliver the next due mail, if any; whether there was one."""
        self._housekeep()
        with database.connection_context():
            mail = OutboxMail.claim_next(self._lease)
        if mail is None:
            return False
        composer = self._composers.get(mail.kind)
        if composer is None:
            log.error("mail %d: no composer for kind %r; dropped", mail.id, mail.kind)
            with database.connection_context():
                mail.sent()
            return True
        with database.connection_context():
            composed = composer(mail)
        if composed is None:  # nobody to mail (a reset for an unknown or disabled account, over its limit)
            with database.connection_context():
                mail.sent()
            log.info("mail %d (%s): nothing to send", mail.id, mail.kind)
            return True
        try:
            deliver(self._server, composed.message, self._config.mail_timeout_seconds,
                    self._config.ssl_cert_file)
        except DeliveryFailed as error:
            self._failed(mail, composed, error)
            return True
        with database.connection_context():
            mail.sent()
        log.info("mail %d (%s) to %s accepted by %s", mail.id, mail.kind, composed.message["To"],
                 self._server.describe())
        return True

    def _failed(self, mail: OutboxMail, composed: Composed, error: DeliveryFailed) -> None:
        with database.connection_context():
            composed.undo()
            if error.permanent:
                mail.sent()
                log.error("mail %d (%s) dropped: %s", mail.id, mail.kind, error)
                return
            again = mail.retry_later(str(error), self._config.mail_retry_seconds)
        if again is None:
            log.error("mail %d (%s) dropped after %d attempts over 24 hours: %s",
                      mail.id, mail.kind, mail.attempts + 1, error)
        else:
            log.warning("mail %d (%s) not delivered (attempt %d): %s; trying again in %.1f s",
                        mail.id, mail.kind, mail.attempts + 1, error, again.total_seconds())

    def _housekeep(self) -> None:
        if self._housekeeping is None or time.monotonic() - self._last_housekeeping < HOUSEKEEPING_SECONDS:
            return
        self._last_housekeeping = time.monotonic()
        with database.connection_context():
            self._housekeeping()


class StartMailSender:
    """Falcon middleware: start the process's sender with its first request (a forked worker's
    too); afterwards one comparison per request."""

    def __init__(self, sender: MailSender) -> None:
        self._sender = sender

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._sender.start()


def start_all() -> None:
    """Start every sender of this process now (`widgetapi serve`, before serving)."""
    for sender in list(_senders):
        sender.start()


def stop_all() -> None:
    """Stop every sender of this process (at exit, and after tests)."""
    for sender in list(_senders):
        sender.stop()


atexit.register(stop_all)
