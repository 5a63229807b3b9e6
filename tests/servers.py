"""Real servers for tests: waitress in a thread, `widgetapi serve` in a subprocess,
and a small HTTP client for talking to them."""
from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import falcon
import waitress

STARTUP_SECONDS = 30


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def request(base_url: str, method: str, path: str, body: Mapping[str, Any] | None = None,
            headers: Mapping[str, str] | None = None, timeout: float = 30) -> Reply:
    """One HTTP request on a fresh connection; the body goes as JSON, the reply is parsed
    as JSON when it has a body."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        all_headers = dict(headers or {})
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        connection.request(method, parts.path.rstrip("/") + path, body=payload, headers=all_headers)
        response = connection.getresponse()
        raw = response.read()
        return Reply(response.status, json.loads(raw) if raw else None,
                     {name.lower(): value for name, value in response.getheaders()})
    finally:
        connection.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def threaded_server(app: falcon.App, threads: int = 8) -> Iterator[str]:
    """Serve `app` with waitress on a free port in a background thread; yields the base URL."""
    server: Any = waitress.create_server(app, host="127.0.0.1", port=0, threads=threads)
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


@contextmanager
def serve_subprocess(env: Mapping[str, str], cwd: Path) -> Iterator[str]:
    """Run `widgetapi serve` in a subprocess until it answers /api/v1/health; yields the base
    URL and always terminates the process."""
    port = free_port()
    command = [sys.executable, "-m", "widgetapi.cli", "serve", "--port", str(port)]
    log = (cwd / f"serve-{port}.log").open("w+")
    process = subprocess.Popen(command, env={**os.environ, **env}, cwd=cwd,
                               stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(base_url, process, log)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_until_healthy(base_url: str, process: subprocess.Popen, log: Any) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if request(base_url, "GET", "/api/v1/health", timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    log.seek(0)
    raise RuntimeError(f"widgetapi serve did not become healthy (exit code {process.poll()}):\n{log.read()}")
