"""`widgetapi serve` under hostile connections: idle sockets, huge and chunked bodies,
oversized headers; the answers are the API's JSON errors."""
from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import falcon
import pytest
from conftest import GENEROUS_THROTTLE_ENV, SECRET_KEY
from servers import ServerProcess, request, server_process, widgetapi_serve

from widgetapi.body import MAX_BODY_BYTES
from widgetapi.config import Config
from widgetapi.server import waitress_options

pytestmark = pytest.mark.slow

TOO_LARGE = {"status": "fail", "message": f"The body must be at most {MAX_BODY_BYTES} bytes"}
IDLE_SOCKETS = 200
HANG_GUARD = 30


@pytest.fixture
def server(app: falcon.App, config: Config, tmp_path: Path) -> Iterator[ServerProcess]:
    env = {"WIDGETAPI_ENV": "testing", "DATABASE_URL": config.database_url, "SECRET_KEY": SECRET_KEY,
           **GENEROUS_THROTTLE_ENV}
    with server_process(widgetapi_serve, env, tmp_path) as process:
        yield process


def connect(server: ServerProcess) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=HANG_GUARD)


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP response (with Content-Length) read off the socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return int(status_line.split()[1]), headers, body


def test_the_serve_options_set_every_limit() -> None:
    options = waitress_options(8)
    assert options["threads"] == 8
    assert options["connection_limit"] >= 1000 and options["asyncore_use_poll"] is True
    assert options["channel_timeout"] <= 60
    assert options["max_request_body_size"] == MAX_BODY_BYTES + 1


def test_a_300_mb_content_length_is_refused_from_its_headers(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(b"POST /api/v1/auth/register HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 314572800\r\n\r\n")
        # not one byte of the body is sent: the answer comes from the headers alone
        status, headers, body = read_response(sock)
    assert status == 413
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == TOO_LARGE


def test_a_body_of_the_limit_is_read_and_one_byte_more_is_refused(server: ServerProcess) -> None:
    for size, expected in ((MAX_BODY_BYTES, 400), (MAX_BODY_BYTES + 1, 413)):
        with connect(server) as sock:
            head = f"POST /api/v1/auth/register HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n"
            sock.sendall(head.encode() + b"Content-Type: application/json\r\n\r\n" + b" " * size)
            status, _, body = read_response(sock)
        assert status == expected, body
        if expected == 413:
            assert json.loads(body) == TOO_LARGE


def test_a_chunked_body_past_the_limit_is_refused_as_it_grows(server: ServerProcess) -> None:
    chunk = b" " * 16384
    with connect(server) as sock:
        sock.sendall(b"POST /api/v1/auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        with contextlib.suppress(OSError):  # the server may close while we still send
            for _ in range(5):  # 80 KiB, and no last chunk: the body never ends
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        status, headers, body = read_response(sock)
    assert status == 413
    assert json.loads(body) == TOO_LARGE


def test_oversized_headers_get_a_json_error(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n")
        status, headers, body = read_response(sock)
    assert status == 431
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["status"] == "fail"


def test_a_request_is_served_while_200_idle_sockets_are_open(server: ServerProcess) -> None:
    idle: list[socket.socket] = []
    try:
        for _ in range(IDLE_SOCKETS):
            idle.append(connect(server))
        # half of them started a request and stalled in its headers, as slowloris does
        for sock in idle[::2]:
            sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")
        # (the guard is shorter than the idle timeout, which would free the server by itself)
        reply = request(server.url, "GET", "/api/v1/openapi.json", timeout=15)
        assert reply.status == 200
        assert request(server.url, "GET", "/api/v1/health", timeout=HANG_GUARD).body == {"status": "ok"}
    finally:
        for sock in idle:
            sock.close()
