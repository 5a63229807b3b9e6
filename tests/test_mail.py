"""widgetapi/mail.py against a real SMTP server (aiosmtpd): MAIL_URL read, STARTTLS, TLS and
plain delivery, AUTH, certificates verified, refusals and broken connections reported; and
`widgetapi send-test-mail`."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from smtp_server import HOST, PASSWORD, USER, Certificates, Inbox, silent_server, smtp_server

from widgetapi.mail import DeliveryFailed, MailServer, compose, deliver, parse_mail_url


def message(to: str = "alice@example.com") -> EmailMessage:
    return compose("widgetapi@example.com", to, "Hello", "the body\n")


def test_mail_urls_are_read_as_the_contract_says() -> None:
    assert parse_mail_url("log") == MailServer("log")
    assert parse_mail_url("smtp://u%40x:p%3Aw@mail.example.com") == MailServer(
        "smtp", "mail.example.com", 587, "u@x", "p:w", starttls=True)
    assert parse_mail_url("smtp://relay:25?starttls=off") == MailServer("smtp", "relay", 25, starttls=False)
    assert parse_mail_url("smtp://relay?starttls=off").port == 25
    assert parse_mail_url("smtps://u:p@mail.example.com") == MailServer(
        "smtps", "mail.example.com", 465, "u", "p", starttls=False)
    assert "p:w" not in parse_mail_url("smtp://u:p:w@h").describe()


@pytest.mark.parametrize("url", ["http://mail.example.com", "smtp://", "smtp://h:port", "mail.example.com",
                                 "smtp://h?tls=no", "smtp://h?starttls=maybe"])
def test_malformed_mail_urls_are_refused_in_a_line_that_shows_valid_ones(url: str) -> None:
    with pytest.raises(ValueError, match="smtp://user:password@host:587"):
        parse_mail_url(url)


def test_a_password_over_plain_text_is_refused() -> None:
    with pytest.raises(ValueError, match="plain text"):
        parse_mail_url("smtp://user:secret-password@relay:25?starttls=off")


@pytest.mark.parametrize("mode", ["starttls", "smtps"])
def test_mail_goes_over_tls_with_auth_and_a_verified_certificate(certificates: Certificates,
                                                                 mode: str) -> None:
    with smtp_server(certificates, mode) as server:
        deliver(parse_mail_url(server.mail_url), message(), 10, str(certificates.ca_file))
        [received] = server.inbox.wait_for(1)
    assert (received["To"], received["Subject"]) == ("alice@example.com", "Hello")
    assert received.get_content() == "the body\n"


def test_a_plain_relay_gets_mail_without_tls(certificates: Certificates) -> None:
    with smtp_server(certificates, "plain", auth=False) as server:
        deliver(parse_mail_url(server.mail_url), message(), 10, None)
        assert len(server.inbox.wait_for(1)) == 1


@pytest.mark.parametrize("mode", ["starttls", "smtps"])
def test_a_certificate_no_trusted_ca_signed_is_refused(certificates: Certificates, mode: str) -> None:
    with smtp_server(certificates, mode) as server:
        with pytest.raises(DeliveryFailed, match="CERTIFICATE_VERIFY_FAILED"):
            deliver(parse_mail_url(server.mail_url), message(), 10, None)
        assert server.inbox.messages == []


def test_starttls_is_required_when_mail_url_says_smtp(certificates: Certificates) -> None:
    with smtp_server(certificates, "plain", auth=False) as server:
        url = f"smtp://{HOST}:{server.port}"  # STARTTLS by default; this server offers none
        with pytest.raises(DeliveryFailed, match="does not offer STARTTLS"):
            deliver(parse_mail_url(url), message(), 10, str(certificates.ca_file))
        assert server.inbox.messages == []


def test_wrong_credentials_a_refusal_and_a_refused_recipient_are_reported(certificates: Certificates) -> None:
    ca = str(certificates.ca_file)
    with smtp_server(certificates) as server:
        wrong = parse_mail_url(f"smtp://{USER}:wrong@{HOST}:{server.port}")
        with pytest.raises(DeliveryFailed, match="535") as failed:
            deliver(wrong, message(), 10, ca)
        assert not failed.value.permanent and "wrong" not in str(failed.value)
        server.inbox.refuse = "554 5.7.1 not today"
        with pytest.raises(DeliveryFailed, match="554 5.7.1 not today"):
            deliver(parse_mail_url(server.mail_url), message(), 10, ca)
        server.inbox.refuse, server.inbox.refuse_recipient = None, "550 5.1.1 no such user"
        with pytest.raises(DeliveryFailed, match="550 5.1.1 no such user") as refused:
            deliver(parse_mail_url(server.mail_url), message(), 10, ca)
        assert refused.value.permanent
        assert server.inbox.messages == []


def test_a_connection_dropped_in_the_middle_of_data_is_a_failed_delivery(certificates: Certificates) -> None:
    with smtp_server(certificates, inbox=Inbox(drop_data=1)) as server:
        with pytest.raises(DeliveryFailed):
            deliver(parse_mail_url(server.mail_url), message(), 10, str(certificates.ca_file))
        assert server.inbox.dropped == 1 and server.inbox.messages == []


def test_a_server_that_never_answers_fails_within_the_timeout() -> None:
    with silent_server() as port, pytest.raises(DeliveryFailed, match="timed out"):
        deliver(parse_mail_url(f"smtp://{HOST}:{port}?starttls=off"), message(), 1, None)


# `widgetapi send-test-mail`


def send_test_mail(address: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environment = {**{k: v for k, v in os.environ.items() if not k.startswith(("MAIL_", "SSL_CERT"))},
                   "WIDGETAPI_ENV": "development", **env}
    return subprocess.run([sys.executable, "-m", "widgetapi.cli", "send-test-mail", address],
                          env=environment, capture_output=True, text=True, timeout=60)


@pytest.fixture
def elsewhere(tmp_path: Path) -> Iterator[Path]:
    """A working directory with no database in it: send-test-mail must not make one."""
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)


def test_send_test_mail_sends_one_mail_and_says_so_in_one_line(certificates: Certificates,
                                                               elsewhere: Path) -> None:
    with smtp_server(certificates) as server:
        done = send_test_mail("ops@example.com", {"MAIL_URL": server.mail_url, "MAIL_FROM": "api@example.com",
                                                  "SSL_CERT_FILE": str(certificates.ca_file)})
        [received] = server.inbox.wait_for(1)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"Sent a test mail to ops@example.com from api@example.com: accepted by "
        f"smtp://{USER}@{HOST}:{server.port} (STARTTLS)"]
    assert (received["To"], received["From"]) == ("ops@example.com", "api@example.com")
    assert PASSWORD not in done.stdout + done.stderr
    assert list(elsewhere.iterdir()) == []  # no database touched, none named


def test_send_test_mail_prints_the_smtp_error_and_exits_2(certificates: Certificates,
                                                          elsewhere: Path) -> None:
    with smtp_server(certificates, inbox=Inbox(refuse="554 5.7.1 relaying denied")) as server:
        done = send_test_mail("ops@example.com", {"MAIL_URL": server.mail_url,
                                                  "SSL_CERT_FILE": str(certificates.ca_file)})
    assert done.returncode == 2
    assert done.stdout == "" and len(done.stderr.splitlines()) == 1, done.stderr
    assert "554 5.7.1 relaying denied" in done.stderr and "Traceback" not in done.stderr
    assert PASSWORD not in done.stderr
    refused = send_test_mail("ops@example.com", {"MAIL_URL": f"smtp://{HOST}:1?starttls=off"})
    assert refused.returncode == 2 and "Connection refused" in refused.stderr, refused.stderr


def test_send_test_mail_help_lists_the_variables_it_reads() -> None:
    done = subprocess.run([sys.executable, "-m", "widgetapi.cli", "send-test-mail", "--help"],
                          capture_output=True, text=True, timeout=60)
    for name in ("MAIL_URL", "MAIL_FROM", "MAIL_TIMEOUT_SECONDS", "SSL_CERT_FILE", "WIDGETAPI_ENV"):
        assert name in done.stdout
    assert "DATABASE_URL" not in done.stdout
