"""The outbox as deployed: `widgetapi serve` processes sharing one database and one real SMTP
server (aiosmtpd). Two processes deliver one queue and each mail arrives once; a mail claimed by
a process that is killed in the middle of its delivery is sent by the other once the claim ran out.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import falcon
import pytest
from conftest import GENEROUS_THROTTLE_ENV, PASSWORD, SECRET_KEY
from servers import (
    environment,
    free_port,
    gunicorn,
    request,
    server_process,
    wait_until_healthy,
    widgetapi_serve,
)
from smtp_server import Certificates, Inbox, SmtpServer, silent_server, smtp_server, token_in

from widgetapi.config import Config
from widgetapi.db import database
from widgetapi.models import User
from widgetapi.outbox import OutboxMail
from widgetapi.passwords import hash_password

pytestmark = pytest.mark.slow

RESET, CONFIRM = "/auth/password-reset", "/auth/password-reset/confirm"


def serve_env(config: Config, certificates: Certificates, mail_url: str, **more: str) -> dict[str, str]:
    return {"WIDGETAPI_ENV": "testing", "DATABASE_URL": config.database_url, "SECRET_KEY": SECRET_KEY,
            "MAIL_URL": mail_url, "SSL_CERT_FILE": str(certificates.ca_file), "MAIL_FROM": "api@example.com",
            **GENEROUS_THROTTLE_ENV, **more}


def make_users(count: int) -> list[str]:
    emails = [f"user{n}@example.com" for n in range(count)]
    password_hash = hash_password(PASSWORD, 4)
    with database.connection_context():
        User.insert_many([{"email": email, "password_hash": password_hash} for email in emails]).execute()
    return emails


def outbox_empty() -> bool:
    with database.connection_context():
        return not OutboxMail.select().exists()


@pytest.fixture
def slow_smtp(certificates: Certificates) -> Iterator[SmtpServer]:
    """Takes a while over each mail, so that the two senders' deliveries overlap."""
    with smtp_server(certificates, inbox=Inbox(delay=0.05)) as server:
        yield server


def test_two_processes_deliver_one_queue_and_each_mail_arrives_once(
        app: falcon.App, config: Config, certificates: Certificates, slow_smtp: SmtpServer,
        tmp_path: Path) -> None:
    emails = make_users(40)
    env = serve_env(config, certificates, slow_smtp.mail_url)
    with server_process(widgetapi_serve, env, tmp_path) as one, \
            server_process(widgetapi_serve, env, tmp_path) as other:
        for number, email in enumerate(emails):  # each process queues half, and wakes its own sender
            server = (one, other)[number % 2]
            assert request(server.url, "POST", f"/api/v1{RESET}", {"email": email}).status == 202
        messages = slow_smtp.inbox.wait_for(len(emails), timeout=120)
        deadline = time.monotonic() + 30
        while not outbox_empty() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)  # anything sent twice would arrive by now
        logs = one.output(), other.output()
    received = Counter(str(message["To"]) for message in slow_smtp.inbox.messages)
    assert received == Counter(emails), received.most_common(3)
    assert len(messages) == len(emails) and outbox_empty()
    sent_by = [log.count("accepted by smtp://") for log in logs]
    assert sum(sent_by) == len(emails), sent_by
    print(f"mails sent by each process: {sent_by}")


@pytest.mark.skipif(sys.platform == "win32", reason="gunicorn runs on Unix")
def test_gunicorns_forked_workers_each_send_mail(app: falcon.App, config: Config, certificates: Certificates,
                                                 smtp: SmtpServer, tmp_path: Path) -> None:
    """The app is loaded before the fork (preload): each worker starts its own sender."""
    emails = make_users(12)
    env = serve_env(config, certificates, smtp.mail_url)
    with server_process(lambda port: gunicorn(port, workers=2), env, tmp_path) as server:
        for email in emails:
            assert request(server.url, "POST", f"/api/v1{RESET}", {"email": email}).status == 202
        smtp.inbox.wait_for(len(emails), timeout=60)
        time.sleep(1)
    assert Counter(str(message["To"]) for message in smtp.inbox.messages) == Counter(emails)


def test_a_mail_claimed_by_a_killed_process_is_sent_by_another(
        app: falcon.App, config: Config, certificates: Certificates, tmp_path: Path) -> None:
    [email] = make_users(1)
    inbox = Inbox()
    with silent_server() as hanging_port, smtp_server(certificates, inbox=inbox) as smtp:
        # The first process's mail server never answers: it claims the mail and waits (its claim
        # lasts 4 x MAIL_TIMEOUT_SECONDS) until it is killed.
        port = free_port()
        log_path = tmp_path / "killed.log"
        env = serve_env(config, certificates, f"smtp://127.0.0.1:{hanging_port}?starttls=off",
                        MAIL_TIMEOUT_SECONDS="3")
        with log_path.open("w") as log:
            doomed = subprocess.Popen(widgetapi_serve(port), env=environment(env), stdout=log,
                                      stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            assert wait_until_healthy(url, doomed), log_path.read_text()
            assert request(url, "POST", f"/api/v1{RESET}", {"email": email}).status == 202
            deadline = time.monotonic() + 30
            while not _claimed() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _claimed(), log_path.read_text()
        finally:
            os.kill(doomed.pid, signal.SIGKILL)
            doomed.wait()
        working = serve_env(config, certificates, smtp.mail_url)
        with server_process(widgetapi_serve, working, tmp_path) as other:
            [mail] = inbox.wait_for(1, timeout=60)
            answer = request(other.url, "POST", f"/api/v1{CONFIRM}",
                             {"token": token_in(mail), "new_password": "a brand new passphrase"})
            assert answer.status == 200, answer.body
            time.sleep(1)
    assert len(inbox.messages) == 1 and outbox_empty()


def _claimed() -> bool:
    with database.connection_context():
        return OutboxMail.select().where(OutboxMail.claim.is_null(False)).exists()
