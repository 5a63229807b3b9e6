"""A real SMTP server for tests: aiosmtpd in a thread, with STARTTLS or TLS on a throwaway
certificate (its CA file is what SSL_CERT_FILE names), AUTH, and ways to misbehave: refuse every
mail (5xx), drop the connection in the middle of DATA, or not be there at all for a while."""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email
import email.policy
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from widgetapi.config import Config

HOST = "127.0.0.1"
# How a reset mail shows its token: alone on an indented line.
TOKEN_LINE = re.compile(r"^    ([A-Za-z0-9_-]{43})$", re.M)
USER, PASSWORD = "mailer", "s3cret mail p@ss"


CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
    key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False)


@dataclass(frozen=True)
class Certificates:
    ca_file: Path  # what SSL_CERT_FILE names
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_certificates(directory: Path) -> Certificates:
    """A throwaway CA, and a certificate it signs for 127.0.0.1 and localhost."""
    now = datetime.now(timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "widgetapi test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(CA_KEY_USAGE, critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names = x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(IPv4Address(HOST))])
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=2))
            .add_extension(names, critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    certificates = Certificates(directory / "test-ca.pem", directory / "smtp.pem", directory / "smtp.key")
    certificates.ca_file.write_bytes(ca.public_bytes(pem))
    certificates.cert_file.write_bytes(cert.public_bytes(pem))
    certificates.key_file.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    return certificates


@dataclass
class Inbox:
    """What the server accepted; `refuse` and `drop_data` make it misbehave."""

    messages: list[EmailMessage] = field(default_factory=list)
    refuse: str | None = None  # e.g. "554 5.7.1 no": the answer to every DATA
    refuse_recipient: str | None = None  # e.g. "550 5.1.1 no such user": the answer to RCPT
    drop_data: int = 0  # how many DATA commands to break off after their first line
    delay: float = 0  # seconds spent over each mail before accepting it
    dropped: int = 0
    _changed: threading.Condition = field(default_factory=threading.Condition)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          options: list[str]) -> str:
        if self.refuse_recipient:
            return self.refuse_recipient
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.refuse:
            return self.refuse
        await asyncio.sleep(self.delay)
        content = envelope.content.replace(b"\r\n", b"\n")
        message = email.message_from_bytes(content, policy=email.policy.default)
        with self._changed:
            self.messages.append(message)
            self._changed.notify_all()
        return "250 OK: queued"

    def wait_for(self, count: int, timeout: float = 30) -> list[EmailMessage]:
        """The messages once there are at least `count` (AssertionError after `timeout`)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self.messages)} of {count} mails arrived in {timeout} s"
                self._changed.wait(left)
            return list(self.messages)


class _Smtp(SMTP):
    async def smtp_DATA(self, arg: str) -> None:  # noqa: N802
        inbox: Inbox = self.event_handler
        if inbox.drop_data > 0 and self.envelope is not None and self.envelope.rcpt_tos:
            inbox.drop_data -= 1
            inbox.dropped += 1
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            await self._reader.readline()  # the first line of the message, then the line goes dead
            assert self.transport is not None
            self.transport.close()
            return
        await super().smtp_DATA(arg)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _Smtp(self.handler, **self.SMTP_kwargs)


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (USER.encode(), PASSWORD.encode())
    return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself


@dataclass
class SmtpServer:
    port: int
    inbox: Inbox
    mode: str
    auth: bool

    @property
    def mail_url(self) -> str:
        credentials = f"{USER}:{quote(PASSWORD, safe='')}@" if self.auth else ""
        if self.mode == "smtps":
            return f"smtps://{credentials}{HOST}:{self.port}"
        suffix = "?starttls=off" if self.mode == "plain" else ""
        return f"smtp://{credentials}{HOST}:{self.port}{suffix}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def smtp_server(certificates: Certificates, mode: str = "starttls", auth: bool = True,
                inbox: Inbox | None = None, port: int | None = None) -> Iterator[SmtpServer]:
    """aiosmtpd on 127.0.0.1: `starttls` (required before AUTH and mail), `smtps` (TLS from the
    start) or `plain` (no TLS, no AUTH)."""
    inbox = inbox or Inbox()
    options: dict[str, Any] = {}
    if mode == "starttls":
        options = {"tls_context": certificates.server_context(), "require_starttls": True}
    elif mode == "smtps":
        options = {"ssl_context": certificates.server_context()}
    if auth:
        # aiosmtpd knows TLS only from STARTTLS: under smtps its own check would hide AUTH
        options.update(authenticator=_authenticate, auth_required=True, auth_require_tls=mode == "starttls")
    controller = _Controller(inbox, hostname=HOST, port=port or free_port(), **options)
    controller.start()
    try:
        yield SmtpServer(controller.port, inbox, mode, auth)
    finally:
        controller.stop()


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A port that takes connections and never says a word (a mail server that hangs)."""
    with socket.create_server((HOST, 0), backlog=50) as listener:
        yield int(listener.getsockname()[1])


def token_in(message: EmailMessage) -> str:
    """The reset token a mail holds."""
    tokens = TOKEN_LINE.findall(message.get_content())
    assert tokens, message.get_content()
    return str(tokens[0])


def sending_to(config: Config, server: SmtpServer, certificates: Certificates, **changes: Any) -> Config:
    """`config` with its mail going to `server`, looked for and retried quickly."""
    return dataclasses.replace(config, mail_url=server.mail_url, ssl_cert_file=str(certificates.ca_file),
                               mail_poll_seconds=0.05, mail_retry_seconds=0.1, **changes)
