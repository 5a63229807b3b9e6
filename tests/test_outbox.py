"""The outbox and its sender (widgetapi/outbox.py, widgetapi/sender.py) against a real SMTP server
that misbehaves: a connection dropped in the middle of DATA, a server that refuses, one that is
down for a while; each mail arrives exactly once, a failed attempt's token is taken back, mail is
given up after 24 hours, and concurrent claims never hand one mail to two senders."""
from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import falcon
import pytest
import webtest
from conftest import register
from smtp_server import Certificates, Inbox, SmtpServer, free_port, sending_to, smtp_server, token_in

from widgetapi.app import create_app
from widgetapi.config import Config
from widgetapi.db import database
from widgetapi.outbox import OutboxMail
from widgetapi.recovery import PasswordReset
from widgetapi.sender import stop_all
from widgetapi.timeutil import utcnow

RESET, CONFIRM = "/api/v1/auth/password-reset", "/api/v1/auth/password-reset/confirm"


@pytest.fixture
def mailing(app: falcon.App, config: Config, certificates: Certificates,
            smtp: SmtpServer) -> Iterator[webtest.TestApp]:
    """An app (on the app fixture's tables) whose sender delivers to the test SMTP server."""
    testapp = webtest.TestApp(create_app(sending_to(config, smtp, certificates)))
    yield testapp
    stop_all()


def outbox() -> list[OutboxMail]:
    with database.connection_context():
        return list(OutboxMail.select().order_by(OutboxMail.id))


def wait_until(condition: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_connection_dropped_mid_data_is_retried_and_the_mail_arrives_once(
        mailing: webtest.TestApp, smtp: SmtpServer, inbox: Inbox) -> None:
    inbox.drop_data = 2
    register(mailing, "alice@example.com")
    mailing.post_json(RESET, {"email": "alice@example.com"}, status=202)
    [mail] = inbox.wait_for(1)
    wait_until(lambda: not outbox())
    time.sleep(0.5)
    assert inbox.dropped == 2 and len(inbox.messages) == 1
    with database.connection_context():  # the tokens of the broken attempts were taken back
        assert PasswordReset.select().count() == 1
    body = {"token": token_in(mail), "new_password": "a brand new passphrase"}
    mailing.post_json(CONFIRM, body, status=200)


def test_a_refusing_server_gets_the_mail_again_with_growing_delays_until_it_takes_it(
        mailing: webtest.TestApp, smtp: SmtpServer, inbox: Inbox, caplog: pytest.LogCaptureFixture) -> None:
    inbox.refuse = "451 4.3.0 try again later"
    register(mailing, "alice@example.com")
    mailing.post_json(RESET, {"email": "alice@example.com"}, status=202)
    wait_until(lambda: outbox() and outbox()[0].attempts >= 3)
    [row] = outbox()
    assert "451 4.3.0 try again later" in (row.last_error or "")
    delays = _retry_delays(caplog)
    assert delays[:3] == [0.1, 0.2, 0.4], delays
    with database.connection_context():
        assert PasswordReset.select().count() == 0  # no token is left from the refused attempts
    inbox.refuse = None
    inbox.wait_for(1)
    wait_until(lambda: not outbox())
    time.sleep(0.5)
    assert len(inbox.messages) == 1


def _retry_delays(caplog: pytest.LogCaptureFixture) -> list[float]:
    """The delays the sender's "trying again in" lines announced."""
    return [float(record.getMessage().rsplit("trying again in ", 1)[1].split()[0])
            for record in caplog.records
            if record.name == "widgetapi.sender" and "trying again in " in record.getMessage()]


def test_a_server_that_is_down_for_a_while_gets_the_mail_once_it_is_back(
        app: falcon.App, config: Config, certificates: Certificates) -> None:
    port = free_port()
    inbox = Inbox()
    later = SmtpServer(port, inbox, "smtps", auth=False)  # not there yet
    testapp = webtest.TestApp(create_app(sending_to(config, later, certificates)))
    try:
        register(testapp, "alice@example.com")
        testapp.post_json(RESET, {"email": "alice@example.com"}, status=202)
        wait_until(lambda: outbox() and outbox()[0].attempts >= 2)
        assert "refused" in (outbox()[0].last_error or "").lower()
        with smtp_server(certificates, "smtps", auth=False, inbox=inbox, port=port):
            inbox.wait_for(1)
            wait_until(lambda: not outbox())
            time.sleep(0.5)
        assert len(inbox.messages) == 1
    finally:
        stop_all()


def test_a_recipient_refused_for_good_is_dropped_at_once(mailing: webtest.TestApp, inbox: Inbox,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    inbox.refuse_recipient = "550 5.1.1 mailbox unavailable"
    register(mailing, "alice@example.com")
    mailing.post_json(RESET, {"email": "alice@example.com"}, status=202)
    wait_until(lambda: not outbox())
    assert any("dropped: the server refused the recipient: 550" in r.getMessage() for r in caplog.records)


def test_mail_is_given_up_after_24_hours_with_a_log_line(mailing: webtest.TestApp, inbox: Inbox,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    inbox.refuse = "451 4.3.0 still not"
    register(mailing, "alice@example.com")
    with database.connection_context():  # queued a day ago, due now
        OutboxMail.create(kind="password_reset", recipient="alice@example.com",
                          queued_at=utcnow() - timedelta(hours=24) + timedelta(seconds=1))
    mailing.get("/api/v1/health")  # the first request starts the sender
    wait_until(lambda: not outbox())
    dropped = [r for r in caplog.records if "dropped after" in r.getMessage()]
    assert len(dropped) == 1 and dropped[0].levelno == logging.ERROR
    assert re.search(r"^mail \d+ \(password_reset\) dropped after \d+ attempts over 24 hours: "
                     r"the server said 451 4.3.0 still not$", dropped[0].getMessage())
    assert inbox.messages == []


def test_concurrent_claims_hand_each_mail_to_one_sender(app: falcon.App) -> None:
    with database.connection_context():
        OutboxMail.insert_many([{"kind": "k", "recipient": f"u{n}@example.com"} for n in range(60)]).execute()
    claimed: list[list[int]] = [[] for _ in range(4)]
    barrier = threading.Barrier(4)

    def claim(index: int) -> None:
        barrier.wait()
        while True:
            with database.connection_context():
                mail = OutboxMail.claim_next(timedelta(minutes=5))
            if mail is None:
                return
            claimed[index].append(mail.id)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    every = [mail_id for ids in claimed for mail_id in ids]
    assert sorted(every) == sorted(set(every)) and len(every) == 60
    assert sum(1 for ids in claimed if ids) >= 2  # they did compete


def test_an_expired_claim_is_taken_over(app: falcon.App) -> None:
    with database.connection_context():
        OutboxMail.create(kind="k", recipient="u@example.com")
        first = OutboxMail.claim_next(timedelta(seconds=1))
        assert first is not None and OutboxMail.claim_next(timedelta(seconds=1)) is None
        time.sleep(1.1)
        second = OutboxMail.claim_next(timedelta(seconds=1))
        assert second is not None and second.id == first.id and second.claim != first.claim
        assert not first.sent() and second.sent()  # the first sender lost its claim
