"""Request logs and request ids (widgetapi/logs.py): one line per request, text or JSON, the
id on the response and on every record logged for the request, never a secret."""
from __future__ import annotations

import base64
import dataclasses
import json
import logging
import logging.handlers
import re
import time
from pathlib import Path
from typing import Any

import falcon
import pytest
import webtest
from conftest import PASSWORD, bearer, register
from servers import request, server_process, widgetapi_serve
from test_processes import new_user, server_env

from widgetapi.app import create_app
from widgetapi.config import Config
from widgetapi.db import database

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


def test_json_lines(app: falcon.App, config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    """One JSON object for the request's line (`app` made the tables: the mail sender that the
    first request starts has nothing to say about them)."""
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


# --- nothing a client sends reaches the log raw ---------------------------------------------------

FORGED = "2026-01-01T00:00:00.000Z ERROR widgetapi [-] forged"


class BrokenItem:
    auth_required = False

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        raise RuntimeError(f"no {name}")


def test_control_characters_from_a_client_are_escaped_in_the_log(
        app: falcon.App, testapp: webtest.TestApp, capsys: pytest.CaptureFixture[str]) -> None:
    app.add_route("/api/v1/broken/{name}", BrokenItem())
    capsys.readouterr()
    path = "/api/v1/broken/x%0A" + FORGED.replace(" ", "%20") + "%1B[31m%E2%80%AE%C2%9B%E2%80%A8"
    testapp.get(path, status=500)
    stderr = capsys.readouterr().err
    lines = stderr.splitlines()
    # the error line, its traceback (indented), the access line: no line starts as a forged one
    assert not [line for line in lines if line.startswith(FORGED)]
    assert [line for line in lines if not line.startswith("    ")] == [
        line for line in lines if TEXT_LINE.match(line)]
    error = next(line for line in lines if " ERROR " in line)
    assert "x\\n2026-01-01T00:00:00.000Z" in error and "\\x1b[31m\\u202e\\x9b\\u2028" in error
    assert not any(c in stderr for c in "\x1b\u202e\x9b\u2028\r")


def test_json_lines_escape_them_too(config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    # No mail: the sender that the first request starts would log about the missing tables.
    app = create_app(dataclasses.replace(config, log_format="json", mail_url=None))
    try:
        app.add_route("/api/v1/broken/{name}", BrokenItem())
        capsys.readouterr()
        webtest.TestApp(app).get("/api/v1/broken/x%0Ay%1B[31m%E2%80%AE%C2%9B", status=500)
        stderr = capsys.readouterr().err
    finally:
        create_app(config)  # text again for the tests after
    entries = [json.loads(line) for line in stderr.splitlines()]
    assert len(entries) == 2
    assert "x\\ny\\x1b[31m\\u202e\\x9b" in entries[0]["message"]
    assert not any(c in stderr for c in "\x1b\u202e\x9b")


@pytest.mark.slow
def test_a_server_logs_the_path_of_a_failed_request_escaped(
        app: falcon.App, config: Config, tmp_path: Path) -> None:
    """As deployed: `widgetapi serve` with a database that fails (its sessions table gone:
    503 on SQLite, 500 on PostgreSQL), whose error handlers log the decoded path."""
    with server_process(widgetapi_serve, server_env(config.database_url), tmp_path) as server:
        headers = new_user(server.url, "alice@example.com")
        with database.connection_context():
            database.execute_sql('DROP TABLE "sessions"')
        path = "/api/v1/users/x%0A" + FORGED.replace(" ", "%20") + "%1B[2J"
        assert request(server.url, "GET", path, headers=headers).status in (500, 503)
        output = server.output()
    assert " during GET /api/v1/users/x\\n2026-01-01" in output
    assert "\\x1b[2J" in output and "\x1b" not in output
    assert not [line for line in output.splitlines() if line.startswith(FORGED)]


# --- the access line without logging's machinery -----------------------------------------------

@pytest.mark.parametrize("log_format", ["text", "json"])
def test_an_access_line_written_directly_has_the_bytes_logging_writes(
        app: falcon.App, config: Config, log_format: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """With logging as configure_logging leaves it, the access line is written without a
    LogRecord; with anything else configured (here caplog's handler, or another one), it goes
    through logging. Both write the same bytes."""
    testapp = webtest.TestApp(create_app(dataclasses.replace(config, log_format=log_format)))
    widgetapi_log = logging.getLogger("widgetapi")
    saved = [h for h in widgetapi_log.handlers if h.get_name() != "widgetapi"]
    try:
        headers = bearer(register(testapp, "alice@example.com"))
        monkeypatch.setattr(time, "time", lambda: 1_765_000_000.9999996)  # rounds up into the next second
        monkeypatch.setattr(time, "perf_counter", lambda: 42.0)
        requests = [("/api/v1/auth/user", {**headers, "X-Request-ID": "r-1"}),
                    ("/api/v1/nowhere", {"X-Request-ID": "r-2"})]
        made: list[str] = []
        make_record = logging.Logger.makeRecord

        def counted(self: logging.Logger, *args: Any, **kwargs: Any) -> logging.LogRecord:
            made.append(self.name)
            return make_record(self, *args, **kwargs)
        monkeypatch.setattr(logging.Logger, "makeRecord", counted)
        written = {}
        for way in ("logging", "directly"):
            made.clear()
            if way == "directly":  # only widgetapi's own handler
                for other in [h for h in widgetapi_log.handlers if h.get_name() != "widgetapi"]:
                    widgetapi_log.removeHandler(other)
            capsys.readouterr()
            for path, sent in requests:
                testapp.get(path, headers=sent, expect_errors=True)
            written[way] = capsys.readouterr().err
            assert made == (["widgetapi.access"] * 2 if way == "logging" else [])
    finally:
        for handler in saved:
            if handler not in widgetapi_log.handlers:
                widgetapi_log.addHandler(handler)
        create_app(config)  # text again for the tests after
    assert written["directly"] == written["logging"]
    assert written["directly"].count("\n") == 2
    first = written["directly"].splitlines()[0]
    if log_format == "text":
        assert re.fullmatch(r"2025-12-06T05:46:41\.000Z INFO widgetapi\.access \[r-1\] "
                            r"GET /api/v1/auth/user 200 0\.0ms client=127\.0\.0\.1 user=[0-9a-f-]{36}",
                            first), first
    else:
        assert json.loads(first)["time"] == "2025-12-06T05:46:41.000Z"


def test_another_handler_filter_or_level_sends_the_line_through_logging(
        testapp: webtest.TestApp, capsys: pytest.CaptureFixture[str]) -> None:
    """Whatever else is configured decides as logging decides: a handler more gets the
    record, a filter or a level that refuses it, or logging.disable, leave no line."""
    widgetapi_log, access = logging.getLogger("widgetapi"), logging.getLogger("widgetapi.access")
    saved = [h for h in widgetapi_log.handlers if h.get_name() != "widgetapi"]
    for other in saved:
        widgetapi_log.removeHandler(other)
    extra = logging.handlers.BufferingHandler(100)
    refuse = logging.Filter("nothing")

    def line_and_records(change: Any, undo: Any) -> tuple[int, int]:
        extra.buffer.clear()
        capsys.readouterr()
        change()
        try:
            testapp.get("/api/v1/health", headers={"X-Request-ID": "seen"}, status=200)
        finally:
            undo()
        return capsys.readouterr().err.count("[seen]"), len(extra.buffer)
    try:
        check = line_and_records
        assert check(lambda: None, lambda: None) == (1, 0)
        assert check(lambda: access.addHandler(extra), lambda: access.removeHandler(extra)) == (1, 1)
        assert check(lambda: widgetapi_log.addHandler(extra),
                     lambda: widgetapi_log.removeHandler(extra)) == (1, 1)
        assert check(lambda: access.addFilter(refuse), lambda: access.removeFilter(refuse)) == (0, 0)
        assert check(lambda: widgetapi_log.setLevel(logging.WARNING),
                     lambda: widgetapi_log.setLevel(logging.INFO)) == (0, 0)
        assert check(lambda: logging.disable(logging.INFO), lambda: logging.disable(logging.NOTSET)) == (0, 0)
    finally:
        for handler in saved:
            widgetapi_log.addHandler(handler)
