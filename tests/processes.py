"""Real server processes for tests: start a command that serves widgetapi on a free port,
wait until it answers /api/v1/health, always stop it; and a small JSON HTTP client."""
from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

STARTUP_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(base_url: str, method: str, path: str, body: Mapping[str, Any] | None = None,
         headers: Mapping[str, str] | None = None) -> tuple[int, Any]:
    """One request on a fresh connection; returns the status and the parsed JSON body."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        all_headers = {**(headers or {}), **({"Content-Type": "application/json"} if body else {})}
        connection.request(method, path, body=json.dumps(body) if body else None, headers=all_headers)
        response = connection.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        connection.close()


@contextmanager
def server_process(command: list[str], port: int, env: Mapping[str, str], log_dir: Path) -> Iterator[str]:
    """Run `command` (which must listen on `port`) until healthy; yields its base URL."""
    log_path = log_dir / f"server-{port}.log"
    with log_path.open("w+") as log:
        process = subprocess.Popen(command, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
        base_url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_healthy(base_url, process, log_path)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_healthy(base_url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if call(base_url, "GET", "/api/v1/health")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{base_url} never became healthy (exit {process.poll()}):\n{log_path.read_text()}")


def widgetapi_serve(port: int) -> list[str]:
    return [sys.executable, "-m", "widgetapi.cli", "serve", "--port", str(port), "--threads", "4"]


def gunicorn(port: int, workers: int = 2) -> list[str]:
    """The README's Linux command."""
    return [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads", "4",
            "--bind", f"127.0.0.1:{port}", "widgetapi.wsgi:app"]


def waitress_serve(port: int) -> list[str]:
    """The README's command for Windows (it runs anywhere)."""
    return [sys.executable, "-m", "waitress", "--threads=4", f"--listen=127.0.0.1:{port}",
            "widgetapi.wsgi:app"]
