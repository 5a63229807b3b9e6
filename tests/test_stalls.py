"""A database that stalls cannot take the server (widgetapi/circuit.py, widgetapi/postgresql.py):
`widgetapi serve --threads 4` with more requests waiting on a frozen database than it has
threads. PostgreSQL freezes behind the suite's TCP proxy (black-holed: connections stay
open and nothing comes back); SQLite freezes with another process holding its write lock.

The bounds are the contract's, generous for a busy machine (what was measured is in the
README): what needs no database answers, /health answers 503 within 5 s, what needs the
database fails with 503 within a few seconds, and the server recovers by itself."""
from __future__ import annotations

import http.client
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import falcon
import pytest
from conftest import GENEROUS_THROTTLE_ENV, PASSWORD, SECRET_KEY, bearer, on_postgresql
from servers import ServerProcess, request, server_process, widgetapi_serve
from tcp_proxy import TcpProxy

WAITING = 12  # database requests at once: three times the server's threads
NO_DATABASE = ["/api/v1/openapi.json", "/api/v1/ui", "/api/v1", "/metrics"]
ANSWERED_WITHIN = 5.0  # what needs no database: the contract's "at once", on a busy machine
HEALTH_WITHIN = 5.0  # the contract's bound for /health
FAILED_WITHIN = 10.0  # what needs the database: a 503 within a few seconds, not a queue
RECOVERED_WITHIN = 10.0


def status_of(base_url: str, path: str) -> int:
    """The status of GET `path`, whatever the body is (HTML, Prometheus text...)."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


@dataclass
class Timed:
    status: int
    seconds: float


def timed(call: Callable[[], int]) -> Timed:
    started = time.monotonic()
    try:
        status = call()
    except OSError:
        status = 0
    return Timed(status, time.monotonic() - started)


def run_together(calls: dict[str, Callable[[], int]], delay: dict[str, float]) -> dict[str, Timed]:
    """Run every call in a thread of its own (those in `delay` that much later); their timings."""
    results: dict[str, Timed] = {}

    def run(name: str) -> None:
        time.sleep(delay.get(name, 0))
        results[name] = timed(calls[name])

    threads = [threading.Thread(target=run, args=(name,)) for name in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@contextmanager
def sqlite_write_lock(path: str) -> Iterator[None]:
    """Another process holds the database's write lock until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys, time\n"
         f"c = sqlite3.connect({path!r}, isolation_level=None)\n"
         "c.execute('BEGIN IMMEDIATE')\nprint('held', flush=True)\nsys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.kill()
        holder.wait()


def serve(database_url: str, tmp_path: Path) -> AbstractContextManager[ServerProcess]:
    """`widgetapi serve --threads 4` on the database, with /metrics."""
    env = {"WIDGETAPI_ENV": "testing", "DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY,
           "TOKEN_EXPIRE_SECONDS": "300", "METRICS_ENABLED": "true", **GENEROUS_THROTTLE_ENV}
    return server_process(widgetapi_serve, env, tmp_path, cwd=tmp_path)


def check_a_stall(url: str, database_call: Callable[[str], int],
                  freeze: Callable[[], AbstractContextManager[object]], recovered: Callable[[], int]) -> None:
    calls: dict[str, Callable[[], int]] = {
        f"database {i}": (lambda: database_call(url)) for i in range(WAITING)}
    for path in NO_DATABASE:
        calls[path] = lambda path=path: status_of(url, path)  # type: ignore[misc]
    calls["health"] = lambda: status_of(url, "/api/v1/health")
    later = {name: 0.3 for name in [*NO_DATABASE, "health"]}  # behind the database requests

    with freeze():
        alone = timed(lambda: status_of(url, "/api/v1/health"))
        assert alone.status == 503 and alone.seconds < HEALTH_WITHIN, alone
        results = run_together(calls, later)

    for path in NO_DATABASE:
        assert results[path].status == 200 and results[path].seconds < ANSWERED_WITHIN, (path, results[path])
    assert results["health"].status == 503 and results["health"].seconds < HEALTH_WITHIN, results["health"]
    for i in range(WAITING):
        result = results[f"database {i}"]
        assert result.status == 503 and result.seconds < FAILED_WITHIN, result

    deadline = time.monotonic() + RECOVERED_WITHIN
    while recovered() != 200:
        assert time.monotonic() < deadline, "the server did not recover by itself"
        time.sleep(0.1)


@pytest.mark.postgres
@pytest.mark.skipif(not on_postgresql(), reason="needs WIDGETAPI_TEST_DATABASE_URL=postgresql://...")
def test_a_hung_postgresql_cannot_take_the_server(app: falcon.App, database_url: str, proxy: TcpProxy,
                                                  tmp_path: Path) -> None:
    proxied = urlsplit(database_url)
    user = f"{proxied.username}@" if proxied.username else ""
    proxied_url = proxied._replace(netloc=f"{user}127.0.0.1:{proxy.port}").geturl()
    with serve(proxied_url, tmp_path) as server:
        token = request(server.url, "POST", "/api/v1/auth/register",
                        {"email": "alice@example.com", "password": PASSWORD}).body["access_token"]

        def read_widgets(url: str) -> int:
            return request(url, "GET", "/api/v1/widgets", headers=bearer(token), timeout=60).status

        @contextmanager
        def black_hole() -> Iterator[None]:
            proxy.black_hole()
            try:
                yield
            finally:
                proxy.stop()  # the database is back: new connections get through
                proxy.start()

        check_a_stall(server.url, read_widgets, black_hole, lambda: read_widgets(server.url))


@pytest.mark.skipif(on_postgresql(), reason="SQLite's write lock")
def test_a_held_sqlite_write_lock_cannot_take_the_server(app: falcon.App, database_url: str,
                                                         tmp_path: Path) -> None:
    path = urlsplit(database_url).path[1:]
    with serve(database_url, tmp_path) as server:
        request(server.url, "POST", "/api/v1/auth/register",
                {"email": "alice@example.com", "password": PASSWORD})

        def log_in(url: str) -> int:  # a login writes (its session, the throttle's counts)
            return request(url, "POST", "/api/v1/auth/login",
                           {"email": "alice@example.com", "password": PASSWORD}, timeout=60).status

        check_a_stall(server.url, log_in, lambda: sqlite_write_lock(path), lambda: log_in(server.url))
