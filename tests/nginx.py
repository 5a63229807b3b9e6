"""A real nginx in front of a widgetapi server, for tests: the README's nginx snippet in a
config of its own (pid, logs and temporary files under the test's directory), on a free port,
as a child process that is always stopped. Debian's `nginx-light` is enough; without nginx
the tests skip, except under CI=true, where they fail (`.ci/run` installs it)."""
from __future__ import annotations

import datetime
import http.client
import os
import re
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from servers import STARTUP_SECONDS, Reply, free_port, request, stop

ROOT = Path(__file__).resolve().parent.parent
# What the README's snippet says, and what the tests put in its place.
README_BACKEND = "server 127.0.0.1:8000;"
README_LISTEN = "listen 443 ssl;"
README_CERTIFICATE = "/etc/ssl/certs/api.example.com.pem"
README_KEY = "/etc/ssl/private/api.example.com.key"
HOST_NAME = "api.example.com"


def nginx_binary() -> str:
    """nginx's path; skips the test without it, or fails it under CI."""
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("nginx is missing (CI must have it: apt-get install nginx-light)")
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    return found


def readme_snippet() -> str:
    """The nginx configuration the README gives under "Facing the internet"."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Facing the internet", 1)[1]
    blocks = re.findall(r"```nginx\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the README's 'Facing the internet' has one nginx snippet"
    return str(blocks[0])


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for HOST_NAME and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST_NAME)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST_NAME)]), critical=False)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def configuration(directory: Path, port: int, upstream: str) -> str:
    """nginx.conf: the README's snippet, listening on 127.0.0.1:`port` (TLS) and passing
    to widgetapi at `upstream` (`127.0.0.1:8000`, `unix:/path`), with every file nginx
    writes under `directory`."""
    cert, key = self_signed_certificate(directory)
    snippet = readme_snippet()
    for old, new in ((README_BACKEND, f"server {upstream};"),
                     (README_LISTEN, f"listen 127.0.0.1:{port} ssl;"),
                     (README_CERTIFICATE, str(cert)), (README_KEY, str(key))):
        assert old in snippet, f"the README's nginx snippet has no {old!r}"
        snippet = snippet.replace(old, new)
    temporary = "\n".join(f"    {kind}_temp_path {directory / kind};"
                          for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    # As root nginx would run its worker as `nobody`, who cannot enter the test's directory.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (f"{user}daemon off;\nworker_processes 1;\npid {directory / 'nginx.pid'};\n"
            f"error_log {directory / 'error.log'} info;\n"
            f"events {{ worker_connections 256; }}\n"
            f"http {{\n    access_log {directory / 'access.log'};\n{temporary}\n{snippet}\n}}\n")


@contextmanager
def nginx(upstream: str, directory: Path) -> Iterator[int]:
    """nginx in front of widgetapi at `upstream` (`127.0.0.1:8000`, `unix:/path`) until the
    block ends; yields the port it serves HTTPS on, at 127.0.0.1."""
    binary = nginx_binary()
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = directory / "nginx.conf"
    conf.write_text(configuration(directory, port, upstream))
    log = (directory / "nginx.out").open("w")
    process = subprocess.Popen([binary, "-e", str(directory / "error.log"), "-p", str(directory),
                                "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_listening(port, process, directory)
        yield port
    finally:
        stop(process)  # SIGTERM: nginx's fast shutdown
        log.close()


def _wait_until_listening(port: int, process: subprocess.Popen, directory: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            http.client.HTTPSConnection("127.0.0.1", port, timeout=2, context=_unverified()).connect()
            return
        except OSError:
            time.sleep(0.1)
    output = "".join((directory / name).read_text() for name in ("nginx.out", "error.log")
                     if (directory / name).exists())
    raise RuntimeError(f"nginx never listened on {port} (exit code {process.poll()}):\n{output}")


def _unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the test's own self-signed certificate
    return context


def call(port: int, method: str, path: str, *, source: str = "127.0.0.1", host: str | None = None,
         https: bool = False, body: Mapping[str, Any] | None = None,
         headers: Mapping[str, str] | None = None) -> Reply:
    """One request to 127.0.0.1:`port` from the local address `source` (any 127.x.y.z on
    Linux: a client of its own), naming `host` (default: 127.0.0.1:port)."""
    base = f"{'https' if https else 'http'}://127.0.0.1:{port}"
    return request(base, method, path, body, {"Host": host or f"127.0.0.1:{port}", **(headers or {})},
                   source=source, tls=_unverified() if https else None)
