"""PgBouncer for tests: Debian's pgbouncer in transaction pooling, started as a child
process (no daemon) on a free port with a configuration written here, in front of a
PostgreSQL database named by its URL."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from servers import free_port, stop

STARTUP_SECONDS = 15
CONFIG = """\
[databases]
* = host={host} port={port} user={user}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen_port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 1000
server_reset_query =
ignore_startup_parameters = extra_float_digits
"""


def available() -> bool:
    return shutil.which("pgbouncer") is not None or os.path.exists("/usr/sbin/pgbouncer")


def through_pgbouncer(url: str, port: int) -> str:
    """`url` with its host and port replaced by PgBouncer's, and ?pgbouncer=true."""
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    query = "&".join(filter(None, [parts.query, "pgbouncer=true"]))
    return parts._replace(netloc=f"{user}127.0.0.1:{port}", query=query).geturl()


@contextmanager
def pgbouncer(database_url: str, pool_size: int = 20) -> Iterator[str]:
    """Run PgBouncer in front of the database `database_url` names; yields the URL that
    reaches the same database through it (with ?pgbouncer=true)."""
    target = urlsplit(database_url)
    port = free_port()
    directory = tempfile.mkdtemp(prefix="widgetapi-pgbouncer-")
    os.chmod(directory, 0o755)  # readable by the user PgBouncer switches to when run as root
    config = os.path.join(directory, "pgbouncer.ini")
    with open(config, "w") as file:
        file.write(CONFIG.format(host=target.hostname or "127.0.0.1", port=target.port or 5432,
                                 user=target.username or "postgres", listen_port=port,
                                 pool_size=pool_size))
    os.chmod(config, 0o644)
    command = [shutil.which("pgbouncer") or "/usr/sbin/pgbouncer", config]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        command[1:1] = ["-u", "postgres"]
    log_path = os.path.join(directory, "pgbouncer.log")
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_listening(port, process, log_path)
        yield through_pgbouncer(database_url, port)
    finally:
        stop(process)
        shutil.rmtree(directory, ignore_errors=True)


def _wait_until_listening(port: int, process: subprocess.Popen, log_path: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    with open(log_path) as file:
        raise RuntimeError(f"pgbouncer did not start (exit code {process.poll()}):\n{file.read()}")
