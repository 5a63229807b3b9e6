"""The requests `python dev.py bench --callgrind` counts, run in this process under callgrind.

    valgrind --tool=callgrind --zero-before=getpgrp --dump-before=getppid \\
        python bench/inprocess.py --requests 100 --path /api/v1/auth/user --out statuses.json

Builds the app from the environment (bench/callgrind.py passes the benchmark's server
settings), registers the benchmark's users through it, sends every endpoint's request a few
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/inprocess.py")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--path", action="append", required=True, metavar="PATH",
                        help="an endpoint to measure (GET with a token), in order; repeatable")
    parser.add_argument("--out", required=True, help="where to write each endpoint's statuses (JSON)")
    args = parser.parse_args(argv)

    from widgetapi.app import create_app
    from widgetapi.config import Config

    app = create_app(Config.from_env())
    tokens = register(app, USERS)
    requests = [[environ("GET", path, tokens[i % USERS]) for i in range(args.requests)]
                for path in args.path]
    for path in args.path:
        for i in range(WARM_REQUESTS):
            status, reply = call(app, environ("GET", path, tokens[i % USERS]))
            if status != 200:
                raise SystemExit(f"GET {path} answered {status}: {reply[:300]!r}")
    statuses: dict[str, list[int]] = {}
    mark(MARK_START)
    mark(MARK_END)  # the marks alone
    for path, envs in zip(args.path, requests, strict=True):
        seen = []
        gc.collect()  # each endpoint's count starts from the same state of the collector
        mark(MARK_START)
        for env in envs:
            seen.append(call(app, env)[0])
        mark(MARK_END)
        statuses[path] = seen
    with open(args.out, "w") as output:
        json.dump(statuses, output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
