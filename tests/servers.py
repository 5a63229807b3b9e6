"""Real servers for tests: waitress in a thread, or a command that serves widgetapi
(`widgetapi serve`, gunicorn, waitress-serve) in a subprocess; and a small HTTP client
for talking to them."""
from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import falcon
from waitress.server import create_server

# Generous: a slow, busy machine must not fail a test by starting a server slowly (it costs
# nothing when the server is quick).
STARTUP_SECONDS = 90
STOP_SECONDS = 15


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def request(base_url: str, method: str, path: str, body: Mapping[str, Any] | None = None,
            headers: Mapping[str, str] | None = None, timeout: float = 60, source: str | None = None,
            tls: ssl.SSLContext | None = None) -> Reply:
    """One HTTP request on a fresh connection (https with `tls`, from the local address
    `source` if given); the body goes as JSON, the reply is parsed as JSON when it has a
    body that is JSON (else it is the text)."""
    parts = urlsplit(base_url)
    host, bind = parts.hostname or "127.0.0.1", (source, 0) if source else None
    connection = (http.client.HTTPSConnection(host, parts.port, timeout=timeout, source_address=bind,
                                              context=tls)
                  if parts.scheme == "https" else
                  http.client.HTTPConnection(host, parts.port, timeout=timeout, source_address=bind))
    try:
        all_headers = dict(headers or {})
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        connection.request(method, parts.path.rstrip("/") + path, body=payload, headers=all_headers)
        response = connection.getresponse()
        raw = response.read()
        received = {name.lower(): value for name, value in response.getheaders()}
        return Reply(response.status, _parsed(raw), received)
    finally:
        connection.close()


def _parsed(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:  # an HTML page, the spec's YAML, ...
        return raw.decode(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def threaded_server(app: falcon.App, threads: int = 8) -> Iterator[str]:
    """Serve `app` with waitress on a free port in a background thread; yields the base URL."""
    server: Any = create_server(cast(Any, app),  # falcon types start_response narrowly
                                 host="127.0.0.1", port=0, threads=threads)
    closing = threading.Event()

    def run() -> None:
        try:
            server.run()
        except OSError:  # the loop may be polling the socket close() just closed
            if not closing.is_set():
                raise

    thread = threading.Thread(target=run, name="waitress", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        closing.set()
        server.close()
        thread.join(timeout=10)
        server.task_dispatcher.shutdown()


def environment(env: Mapping[str, str], unset: Collection[str] = ()) -> dict[str, str]:
    """`env` over this process's environment, less the inherited names in `unset`."""
    return {**{name: value for name, value in os.environ.items() if name not in unset}, **env}


@dataclass
class ServerProcess:
    url: str
    log_path: Path

    def output(self) -> str:
        """What the process has written to stdout and stderr so far."""
        return self.log_path.read_text()


@contextmanager
def server_process(command: Callable[[int], list[str]], env: Mapping[str, str], log_dir: Path,
                   cwd: Path | None = None, unset: Collection[str] = ()) -> Iterator[ServerProcess]:
    """Run `command(port)` on a free port, with `environment(env, unset)` and its output
    logged in `log_dir`, until it answers /api/v1/health. Always stops the process, killing
    it if it does not stop in time."""
    port = free_port()
    log_path = log_dir / f"server-{port}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(command(port), env=environment(env, unset), cwd=cwd,
                                   stdout=log, stderr=subprocess.STDOUT)
        server = ServerProcess(f"http://127.0.0.1:{port}", log_path)
        try:
            _wait_until_healthy(server, process)
            yield server
        finally:
            stop(process)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not exited within STOP_SECONDS; reaped either way."""
    process.terminate()
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_until_healthy(server: ServerProcess, process: subprocess.Popen) -> None:
    if not wait_until_healthy(server.url, process):
        raise RuntimeError(f"{server.url} never became healthy (exit code {process.poll()}):\n"
                           + server.output())


def wait_until_healthy(url: str, process: subprocess.Popen) -> bool:
    """Whether the server `process` runs answers /api/v1/health with 200 before it exits or
    STARTUP_SECONDS pass."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if request(url, "GET", "/api/v1/health", timeout=2).status == 200:
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def widgetapi_serve(port: int) -> list[str]:
    return [sys.executable, "-m", "widgetapi.cli", "serve", "--port", str(port), "--threads", "4"]


def gunicorn(port: int, workers: int = 2) -> list[str]:
    """The README's Linux command."""
    return [sys.executable, "-m", "gunicorn", "-c", "python:widgetapi.gunicorn_conf",
            "--workers", str(workers), "--threads", "4", "--bind", f"127.0.0.1:{port}", "widgetapi.wsgi:app"]


def waitress_serve(port: int) -> list[str]:
    """The README's command for Windows (it runs anywhere)."""
    return [sys.executable, "-m", "waitress", "--threads=4", f"--listen=127.0.0.1:{port}",
            "--no-clear-untrusted-proxy-headers", "widgetapi.wsgi:app"]


def race(attempts: Sequence[Callable[[], Reply]]) -> list[Reply]:
    """Run the attempts in threads released together; their replies in order."""
    barrier = threading.Barrier(len(attempts))
    results: list[Any] = [None] * len(attempts)

    def run(index: int) -> None:
        barrier.wait(timeout=60)
        try:
            results[index] = attempts[index]()
        except Exception as error:
            results[index] = Reply(0, repr(error))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(attempts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results
