"""Request logs and request ids (widgetapi/logs.py): one line per request, text or JSON, the
id on the response and on every record logged for the request, never a secret."""
from __future__ import annotations

import base64
import dataclasses
import json
import re

import falcon
import pytest
import webtest
from conftest import PASSWORD, bearer, register

from widgetapi.app import create_app
from widgetapi.config import Config

TEXT_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO|WARNING|ERROR) (\S+) \[([^\]]+)\] (.*)$")


def access_lines(stderr: str) -> list[re.Match[str]]:
    matches = [TEXT_LINE.match(line) for line in stderr.splitlines()]
    return [m for m in matches if m and m.group(2) == "widgetapi.access"]


class Broken:
    auth_required = False

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise RuntimeError("something broke")


# --- X-Request-ID ------------------------------------------------------------------------------

@pytest.mark.parametrize("sent", ["abc", "A-b_c.9", "x" * 128])
def test_a_valid_request_id_is_kept(testapp: webtest.TestApp, sent: str) -> None:
    response = testapp.get("/api/v1/health", headers={"X-Request-ID": sent}, status=200)
    assert response.headers["X-Request-ID"] == sent


@pytest.mark.parametrize("sent", ["", "x" * 129, "two words", "semi;colon", "new\u00e9", "a/b"])
def test_an_invalid_request_id_is_replaced(testapp: webtest.TestApp, sent: str) -> None:
    response = testapp.get("/api/v1/health", headers={"X-Request-ID": sent}, status=200)
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_every_response_has_a_new_request_id(testapp: webtest.TestApp, app: falcon.App) -> None:
    app.add_route("/api/v1/broken", Broken())
    responses = [
        testapp.get("/api/v1/health", status=200),
        testapp.get("/api/v1/nowhere", status=404),
        testapp.get("/api/v1/widgets", status=401),
        testapp.post("/api/v1/auth/login", "x", content_type="text/plain", status=415),
        testapp.get("/api/v1/broken", status=500),
        testapp.get("/api/v1/ui/swagger-ui.css", status=200),
        testapp.head("/api/v1/health", status=200),
    ]
    ids = [response.headers["X-Request-ID"] for response in responses]
    assert len(set(ids)) == len(ids)


# --- the access line ---------------------------------------------------------------------------

def test_one_text_line_per_request(testapp: webtest.TestApp, user_headers: dict[str, str],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    public_id = testapp.get("/api/v1/auth/user", headers=user_headers).json["public_id"]
    capsys.readouterr()
    testapp.get("/api/v1/widgets/Some-Widget", headers={**user_headers, "X-Request-ID": "req-1"}, status=404)
    testapp.get("/api/v1/nowhere/at/all", headers={"X-Request-ID": "req-2"}, status=404)
    lines = access_lines(capsys.readouterr().err)
    assert [(line.group(1), line.group(3)) for line in lines] == [("INFO", "req-1"), ("INFO", "req-2")]
    first = lines[0].group(4)
    assert re.fullmatch(rf"GET /api/v1/widgets/{{name}} 404 \d+\.\dms client=127\.0\.0\.1 user={public_id}",
                        first), first
    # the route template, never the path as sent; no user without a token
    second = lines[1].group(4)
    assert re.fullmatch(r"GET \(no route\) 404 \d+\.\dms client=127\.0\.0\.1", second), second


def test_json_lines(config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    testapp = webtest.TestApp(create_app(dataclasses.replace(config, log_format="json")))
    try:
        capsys.readouterr()
        testapp.get("/api/v1/", headers={"X-Request-ID": "json-1"}, status=200)
        entries = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        create_app(config)  # text again for the tests after
    assert len(entries) == 1
    entry = entries[0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry.pop("time"))
    assert isinstance(entry.pop("duration_ms"), float)
    assert entry == {"level": "INFO", "logger": "widgetapi.access", "request_id": "json-1",
                     "message": entry["message"], "method": "GET", "route": "/api/v1", "status": 200,
                     "client": "127.0.0.1", "user": None}


def test_an_error_logged_for_a_request_carries_its_id(app: falcon.App, testapp: webtest.TestApp,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    app.add_route("/api/v1/broken", Broken())
    capsys.readouterr()
    testapp.get("/api/v1/broken", headers={"X-Request-ID": "broken-1"}, status=500)
    stderr = capsys.readouterr().err
    error = [m for m in map(TEXT_LINE.match, stderr.splitlines()) if m and m.group(1) == "ERROR"]
    assert len(error) == 1 and error[0].group(3) == "broken-1"
    assert "something broke" in stderr  # the traceback follows the line
    assert [line.group(3) for line in access_lines(stderr)] == ["broken-1"]


def test_a_record_logged_outside_a_request_has_no_id(app: falcon.App,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    webtest.TestApp(app).get("/api/v1/health", headers={"X-Request-ID": "before"})
    capsys.readouterr()
    import logging

    logging.getLogger("widgetapi.test").warning("between requests")
    line = TEXT_LINE.match(capsys.readouterr().err.strip())
    assert line and line.group(3) == "-"


def test_each_line_is_written_once(testapp: webtest.TestApp, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    testapp.get("/api/v1/health", headers={"X-Request-ID": "once"})
    assert capsys.readouterr().err.count("[once]") == 1


# --- never a secret ----------------------------------------------------------------------------

def test_no_password_or_token_is_ever_logged(app: falcon.App, testapp: webtest.TestApp,
                                             capsys: pytest.CaptureFixture[str],
                                             caplog: pytest.LogCaptureFixture) -> None:
    capsys.readouterr()
    token = register(testapp, "alice@example.com")
    login = testapp.post_json("/api/v1/auth/login", {"email": "alice@example.com", "password": PASSWORD})
    second = login.json["access_token"]
    testapp.post_json("/api/v1/auth/login", {"email": "alice@example.com", "password": "wrong password 1"},
                      status=401)
    testapp.post("/api/v1/auth/login", {"email": "alice@example.com", "password": "wrong password 2"},
                 status=401)
    basic = base64.b64encode(f"alice@example.com:{PASSWORD}".encode()).decode()
    testapp.post("/api/v1/auth/login", headers={"Authorization": f"Basic {basic}"}, status=200)
    testapp.get("/api/v1/auth/user", headers=bearer(token), status=200)
    testapp.get("/api/v1/auth/user", headers=bearer(token + "tampered"), status=401)
    testapp.post_json("/api/v1/auth/register", {"email": "bob@example.com", "password": "short"}, status=400)
    app.add_route("/api/v1/broken", Broken())
    testapp.get("/api/v1/broken", headers=bearer(second), status=500)

    logged = capsys.readouterr().err + caplog.text
    assert len(access_lines(logged)) >= 9
    for secret in (PASSWORD, "wrong password 1", "wrong password 2", "short", token, second,
                   token.split(".")[2], basic):
        assert secret not in logged
