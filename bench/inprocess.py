"""The requests `python dev.py bench --callgrind` counts, run in this process under callgrind.

    valgrind --tool=callgrind --zero-before=getpgrp --dump-before=getppid \\
        python bench/inprocess.py --requests 100 --endpoint user=/api/v1/auth/user --out measured.json

Builds the app from the environment (bench/callgrind.py passes the benchmark's server
settings), registers the benchmark's users through it (and gives each some books, when the
app has books), sends every endpoint's request a few
times to warm it (imports, compiled statements, caches), then for each endpoint: calls
MARK_START (callgrind zeroes its counters), sends N requests straight to the WSGI app, calls
MARK_END (callgrind writes the counts since the zeroing to a file of its own). The marks
are two C library calls that nothing else makes while the app serves (`os.getpgrp()`,
`os.getppid()`): callgrind sees them by name, so no compiled helper is needed (ctypes
would not do: callgrind does not see a call made through libffi as a call). The first pair
of marks has no request between them: the marks' own cost, subtracted from each endpoint's.
The garbage collector runs as it does in a server, from the same state before each endpoint.
"""
from __future__ import annotations

import argparse
import gc
import io
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

MARKS = {"getpgrp": os.getpgrp, "getppid": os.getppid}
MARK_START, MARK_END = MARKS
WARM_REQUESTS = 16
USERS = 8
PASSWORD = "bench password 1"
BOOKS = "/api/v1/books"
BOOK = {"name": "Dune", "author": "Frank Herbert", "publisher": "Chilton", "price": "12.50"}
BOOKS_PER_USER = 12


def mark(name: str) -> None:
    MARKS[name]()


def environ(method: str, path: str, token: str | None, body: bytes = b"") -> dict[str, Any]:
    """What waitress hands the app for a request from wrk (Host and Authorization only)."""
    route, _, query = path.partition("?")
    env: dict[str, Any] = {
        "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": route, "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "40000", "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0), "wsgi.multithread": True, "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if token:
        env["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    if body:
        env["CONTENT_TYPE"] = "application/json"
        env["CONTENT_LENGTH"] = str(len(body))
    return env


def call(app: Callable[..., Any], env: dict[str, Any]) -> tuple[int, bytes]:
    """One request through the WSGI app: its status and body."""
    status: list[str] = []

    def start_response(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        status.append(line)

    result = app(env, start_response)
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return int(status[-1].split()[0]), body


def register(app: Callable[..., Any], count: int) -> list[str]:
    tokens = []
    for number in range(1, count + 1):
        body = json.dumps({"email": f"user{number}@bench.example", "password": PASSWORD}).encode()
        status, reply = call(app, environ("POST", "/api/v1/auth/register", None, body))
        if status != 201:
            raise SystemExit(f"registering user{number} answered {status}: {reply[:300]!r}")
        tokens.append(json.loads(reply)["access_token"])
    return tokens


def add_books(app: Callable[..., Any], tokens: list[str]) -> list[str] | None:
    """BOOKS_PER_USER books for each user, through the API; each user's first book's id, or
    None when the app has no books."""
    first: list[str] = []
    for token in tokens:
        for number in range(BOOKS_PER_USER):
            body = json.dumps({**BOOK, "name": f"Book {number}"}).encode()
            status, reply = call(app, environ("POST", BOOKS, token, body))
            if status in (404, 405) and not first:
                return None
            if status != 201:
                raise SystemExit(f"POST {BOOKS} answered {status}: {reply[:300]!r}")
            if number == 0:
                first.append(json.loads(reply)["id"])
    return first


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/inprocess.py")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--endpoint", action="append", required=True, metavar="NAME=PATH",
                        help="an endpoint to measure (GET with a token), in order; {book} in PATH is "
                             "a book of the token's user; repeatable")
    parser.add_argument("--out", required=True, help="where to write what was measured (JSON)")
    args = parser.parse_args(argv)

    from widgetapi.app import create_app
    from widgetapi.config import Config

    app = create_app(Config.from_env())
    tokens = register(app, USERS)
    books = add_books(app, tokens)
    endpoints = dict(endpoint.split("=", 1) for endpoint in args.endpoint)
    if books is None:  # an app without books: the other endpoints
        endpoints = {name: path for name, path in endpoints.items() if not path.startswith(BOOKS)}

    def request(path: str, i: int) -> dict[str, Any]:
        user = i % USERS
        return environ("GET", path.replace("{book}", books[user] if books else ""), tokens[user])

    requests = {name: [request(path, i) for i in range(args.requests)] for name, path in endpoints.items()}
    for path in endpoints.values():
        for i in range(WARM_REQUESTS):
            status, reply = call(app, request(path, i))
            if status != 200:
                raise SystemExit(f"GET {path} answered {status}: {reply[:300]!r}")
    statuses: dict[str, list[int]] = {}
    mark(MARK_START)
    mark(MARK_END)  # the marks alone
    for name, envs in requests.items():
        seen = []
        gc.collect()  # each endpoint's count starts from the same state of the collector
        mark(MARK_START)
        for env in envs:
            seen.append(call(app, env)[0])
        mark(MARK_END)
        statuses[name] = seen
    with open(args.out, "w") as output:
        json.dump({"measured": list(endpoints), "statuses": statuses}, output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
