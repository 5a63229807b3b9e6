"""Sending one mail as MAIL_URL says, with smtplib: `smtp://user:password@host:587` (STARTTLS,
required), `smtp://host:25?starttls=off` (plain, for a relay on the same machine or network; no
password), `smtps://user:password@host:465` (TLS from the start), or `log` (the mail goes to the
log: development and testing only, the one place a token may appear in a log).

Certificates are verified, host name included, against the system's CAs, and SSL_CERT_FILE adds
one (a private CA) rather than replacing them. Every step waits at most MAIL_TIMEOUT_SECONDS,
and a whole delivery at most DELIVERY_TIMEOUTS of them: the outbox's claim on a mail outlasts
that, so no other process can take the mail while this one may still be sending it.
"""
from __future__ import annotations

import contextlib
import logging
import os
import smtplib
import socket
import ssl
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger(__name__)

LOG = "log"
SCHEMES = {"smtp": 587, "smtps": 465}
PLAIN_PORT = 25
DELIVERY_TIMEOUTS = 3
VALID_URLS = ("smtp://user:password@host:587 (STARTTLS), smtps://user:password@host:465 (TLS), "
              "smtp://host:25?starttls=off (plain, no password) or log")


class DeliveryFailed(Exception):
    """The mail was not accepted; `permanent` when trying again cannot help (5xx for the
    recipient)."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class MailServer:
    """Where MAIL_URL says mail goes."""

    scheme: str  # "log", "smtp" or "smtps"
    host: str = ""
    port: int = 0
    username: str | None = None
    password: str | None = None
    starttls: bool = True

    @property
    def is_log(self) -> bool:
        return self.scheme == LOG

    def describe(self) -> str:
        """The server for people: never its password."""
        if self.is_log:
            return "the log (MAIL_URL=log)"
        security = "TLS" if self.scheme == "smtps" else ("STARTTLS" if self.starttls else "no TLS")
        user = f"{self.username}@" if self.username else ""
        return f"{self.scheme}://{user}{self.host}:{self.port} ({security})"


def parse_mail_url(url: str) -> MailServer:
    """MAIL_URL read, or ValueError in one line that shows valid URLs (never the password)."""
    if url.strip().lower() == LOG:
        return MailServer(LOG)
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ValueError(f"MAIL_URL is not a mail URL (bad port or syntax): use {VALID_URLS}") from None
    shown = f"{parts.scheme}://{parts.hostname or ''}"
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise ValueError(f"MAIL_URL {shown!r} is not a mail URL: use {VALID_URLS}")
    options = {name: values[-1].lower() for name, values in parse_qs(parts.query).items()}
    unknown = set(options) - {"starttls"}
    if unknown or options.get("starttls", "on") not in ("on", "off"):
        raise ValueError(f"MAIL_URL {shown!r} takes only ?starttls=off (or on): use {VALID_URLS}")
    starttls = parts.scheme == "smtp" and options.get("starttls", "on") == "on"
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if parts.scheme == "smtp" and not starttls and (username or password):
        raise ValueError(f"MAIL_URL {shown!r} has a password and starttls=off, which would send it in plain "
                         "text: use STARTTLS (port 587) or smtps://")
    default_port = SCHEMES[parts.scheme] if parts.scheme == "smtps" or starttls else PLAIN_PORT
    return MailServer(parts.scheme, parts.hostname, port or default_port, username, password, starttls)


def tls_context(extra_ca_file: str | None) -> ssl.SSLContext:
    """Verifying context: the system's CAs (the compiled-in locations, which SSL_CERT_FILE
    would otherwise replace), plus `extra_ca_file`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname, CERT_REQUIRED
    defaults = ssl.get_default_verify_paths()
    cafile = defaults.openssl_cafile if os.path.isfile(defaults.openssl_cafile) else None
    capath = defaults.openssl_capath if os.path.isdir(defaults.openssl_capath) else None
    if cafile or capath:
        context.load_verify_locations(cafile=cafile, capath=capath)
    if extra_ca_file:
        context.load_verify_locations(cafile=extra_ca_file)
    return context


def compose(sender: str, recipient: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, recipient, subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    # 7bit keeps an ASCII body (a long reset URL, the token) verbatim: no quoted-printable breaks
    plain = body.isascii() and all(len(line) < 990 for line in body.splitlines())
    message.set_content(body, cte="7bit" if plain else None)
    return message


def deliver(server: MailServer, message: EmailMessage, timeout: float, extra_ca_file: str | None) -> None:
    """Hand `message` to the server (or the log), or raise DeliveryFailed."""
    if server.is_log:
        log.info("mail not sent (MAIL_URL=log): To: %s; Subject: %s\n%s",
                 message["To"], message["Subject"], message.get_content().rstrip())
        return
    try:
        _send(server, message, timeout, extra_ca_file)
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        raise DeliveryFailed(f"the server refused the recipient: {_reasons(error.recipients.values())}",
                             permanent=all(500 <= code < 600 for code in codes)) from None
    except smtplib.SMTPResponseException as error:
        raise DeliveryFailed(f"the server said {error.smtp_code} {_text(error.smtp_error)}") from None
    except (smtplib.SMTPException, OSError) as error:  # ssl.SSLError is an OSError
        raise DeliveryFailed(f"{type(error).__name__}: {error}".rstrip(": ")) from None


def send_test_mail(server: MailServer, sender: str, address: str, timeout: float,
                   extra_ca_file: str | None) -> str:
    """Send one test mail now (`widgetapi send-test-mail`): the line that says so, or
    DeliveryFailed with the line that says why not."""
    message = compose(sender, address, "widgetapi test mail",
                      "This is a test mail from widgetapi send-test-mail: the mail settings work.\n")
    try:
        deliver(server, message, timeout, extra_ca_file)
    except DeliveryFailed as error:
        raise DeliveryFailed(f"the test mail to {address} was not accepted by {server.describe()}: {error}",
                             error.permanent) from None
    if server.is_log:
        return f"MAIL_URL is log: the test mail to {address} was written to the log, not sent"
    return f"Sent a test mail to {address} from {sender}: accepted by {server.describe()}"


def _send(server: MailServer, message: EmailMessage, timeout: float, extra_ca_file: str | None) -> None:
    context = tls_context(extra_ca_file)
    smtp: smtplib.SMTP
    if server.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(server.host, server.port, timeout=timeout)
    # Each step waits at most `timeout`; this bounds them all together (see the module's doc).
    watchdog = threading.Timer(timeout * DELIVERY_TIMEOUTS, _cut, args=(smtp,))
    watchdog.daemon = True
    watchdog.start()
    try:
        smtp.ehlo()
        if server.starttls:
            if not smtp.has_extn("starttls"):
                raise DeliveryFailed("the server does not offer STARTTLS, which MAIL_URL requires "
                                     "(for a plain relay: ?starttls=off)")
            smtp.starttls(context=context)
            smtp.ehlo()
        if server.username:
            smtp.login(server.username, server.password or "")
        smtp.send_message(message)
    finally:
        watchdog.cancel()
        with contextlib.suppress(smtplib.SMTPException, OSError):  # accepted is accepted
            smtp.quit()
        smtp.close()


def _cut(smtp: smtplib.SMTP) -> None:
    """Break a delivery that took too long: a blocked read wakes with an error."""
    sock = getattr(smtp, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _reasons(refusals: object) -> str:
    return "; ".join(f"{code} {_text(text)}" for code, text in refusals)  # type: ignore[attr-defined]
