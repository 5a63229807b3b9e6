"""One JSON format for every response body (widgetapi/media.py): successes, the API's errors,
Falcon's own (unknown path, method not allowed), the JWK Set and waitress's errors before the
app runs, all compact UTF-8 as orjson writes them."""
from __future__ import annotations

import json

import falcon
import orjson
import pytest
import webtest
from conftest import bearer, register
from test_server import connect, read_response, server  # noqa: F401  (the `server` fixture)

from widgetapi import media
from widgetapi.app import create_app
from widgetapi.config import Config


def in_the_one_format(body: bytes) -> bool:
    return body == orjson.dumps(json.loads(body))


def test_successes_and_errors_share_one_format(testapp: webtest.TestApp) -> None:
    token = register(testapp, "alice@example.com")
    bodies = [
        testapp.get("/api/v1/auth/user", headers=bearer(token), status=200).body,
        testapp.get("/api/v1/", status=200).body,
        testapp.get("/api/v1/auth/user", status=401).body,
        testapp.get("/api/v1/auth/user", headers=bearer(token + "x"), status=401).body,
        testapp.get("/api/v1/nowhere", status=404).body,
        testapp.patch("/api/v1/health", status=405).body,
        testapp.post_json("/api/v1/auth/register", {"email": "é@", "password": "x"}, status=400).body,
        testapp.post("/api/v1/auth/register", "{", content_type="application/json", status=400).body,
    ]
    for body in bodies:
        assert in_the_one_format(body), body
    assert "é@ is not a valid email".encode() in bodies[-2]  # UTF-8 as it is, not \\u00e9


def test_the_jwk_set_is_in_the_same_format(app: falcon.App, eddsa_config: Config) -> None:
    body = webtest.TestApp(create_app(eddsa_config)).get("/.well-known/jwks.json", status=200).body
    assert in_the_one_format(body) and json.loads(body)["keys"]


def test_what_orjson_refuses_is_written_in_the_same_compact_format() -> None:
    assert media.dumps({"a": "\ud800", "n": 2**70}) == b'{"a":"\\ud800","n":1180591620717411303424}'
    assert media.dumps({"a": [1, "é"]}) == '{"a":[1,"é"]}'.encode()


@pytest.mark.slow
def test_waitress_errors_are_in_the_same_format(server) -> None:  # noqa: F811
    with connect(server) as sock:
        sock.sendall(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 300000000\r\n\r\n")
        status, _, body = read_response(sock)
    assert status == 413 and in_the_one_format(body), body

