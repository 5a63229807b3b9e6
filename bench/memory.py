"""python -m bench.memory: the resident memory of `widgetapi serve --threads 4` over a long
mixed run, to show that it levels off.

Starts the server on a fresh database (a temporary SQLite file, or --database-url), makes an
administrator and a few users, then sends --requests requests from 4 clients, a mix of widget
reads, pages (first, middle and last), the current user, widget writes and deletes, logins
and logouts, and prints the server's RSS (VmRSS, Linux) every --every requests. Not a timed
test: the figure to read is the curve, which must flatten."""
from __future__ import annotations

import argparse
import itertools
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from bench.servers import Server, pinned_server, request

PASSWORD = "memory curve password 1"
CLIENTS = 4


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", metavar="URL",
                        help="an empty PostgreSQL database to use (default: a temporary SQLite file)")
    parser.add_argument("--requests", type=int, default=90_000, help="requests in all (default: 90000)")
    parser.add_argument("--every", type=int, default=5_000, help="print the RSS every N requests")
    return parser.parse_args(argv)


def serve(port: int) -> list[str]:
    return [sys.executable, "-m", "widgetapi.cli", "serve", "--port", str(port), "--threads", "4"]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    directory = Path(tempfile.mkdtemp(prefix="widgetapi-memory-"))
    url = args.database_url or f"sqlite:///{directory / 'memory.db'}"
    env = {**os.environ, "DATABASE_URL": url, "WIDGETAPI_ENV": "development", "SECRET_KEY": "m" * 40,
           "AUTH_RATE_PER_MINUTE": "1000000", "LOGIN_MAX_FAILURES": "1000000",
           "TOKEN_EXPIRE_SECONDS": "3600", "WIDGETAPI_ADMIN_PASSWORD": PASSWORD}
    subprocess.run([sys.executable, "-m", "widgetapi.cli", "create-admin", "admin@example.com"],
                   env=env, check=True, capture_output=True)
    with pinned_server(0, serve, env, directory / "server.log") as server:
        print(f"database: {url}\nrequests  RSS (MB)  statuses so far", flush=True)
        run(server, args.requests, args.every)
    return 0


def run(server: Server, total: int, every: int) -> None:
    admin = request(server.url, "POST", "/api/v1/auth/login",
                    {"email": "admin@example.com", "password": PASSWORD}).body["access_token"]
    users = [request(server.url, "POST", "/api/v1/auth/register",
                     {"email": f"user{i}@example.com", "password": PASSWORD}).body["access_token"]
             for i in range(CLIENTS)]
    for i in range(200):
        request(server.url, "POST", "/api/v1/widgets", widget(f"seed-{i}"), admin)
    counter = itertools.count()
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    print(f"{0:>8}  {server.rss_bytes() / 2**20:8.1f}", flush=True)

    def client(index: int) -> None:
        chooser = random.Random(index)
        while (n := next(counter)) < total:
            status = one_request(server.url, chooser, n, admin, users[index])
            with lock:
                statuses[status] += 1
            if (n + 1) % every == 0:
                print(f"{n + 1:>8}  {server.rss_bytes() / 2**20:8.1f}  {dict(statuses)}", flush=True)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"{total} requests in {time.monotonic() - started:.0f} s", flush=True)


def widget(name: str) -> dict[str, str]:
    return {"name": name, "info_url": "https://example.com/info", "deadline": "2100-01-01"}


def one_request(url: str, chooser: random.Random, n: int, admin: str, user: str) -> int:
    kind = chooser.random()
    if kind < 0.35:
        return request(url, "GET", f"/api/v1/widgets/seed-{chooser.randrange(200)}", token=user).status
    if kind < 0.55:
        page = chooser.choice([1, 5, 10, 20])
        return request(url, "GET", f"/api/v1/widgets?page={page}&per_page=10", token=user).status
    if kind < 0.70:
        return request(url, "GET", "/api/v1/auth/user", token=user).status
    if kind < 0.80:  # a write and its delete: the table stays the same size
        name = f"temporary-{n}"
        request(url, "POST", "/api/v1/widgets", widget(name), admin)
        return request(url, "DELETE", f"/api/v1/widgets/{name}", token=admin).status
    if kind < 0.90:
        return request(url, "GET", f"/api/v1/users?page={chooser.randrange(1, 3)}", token=admin).status
    login = request(url, "POST", "/api/v1/auth/login", {"email": "user0@example.com", "password": PASSWORD})
    if login.status != 200:  # 503 when every password check is busy, by design
        return login.status
    return request(url, "POST", "/api/v1/auth/logout", token=login.body["access_token"]).status


if __name__ == "__main__":
    raise SystemExit(main())
