"""Every error is the contract's JSON shape: routing, bodies, unexpected failures, the database."""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import falcon
import pytest
import webtest
from conftest import PASSWORD, SECRET_KEY

from widgetapi.app import create_app
from widgetapi.body import MAX_BODY_BYTES
from widgetapi.config import Config
from widgetapi.db import close_database, database
from widgetapi.models import create_tables

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
HEALTH = "/api/v1/health"
UNAVAILABLE = {"status": "error", "message": "Service unavailable"}


def assert_error(response: webtest.TestResponse, status: int, message: str | None = None) -> dict:
    """A JSON error body of the contract's shape, whatever was asked for."""
    assert response.status_int == status
    assert response.content_type == "application/json"
    body = json.loads(response.body)
    assert body["status"] == ("error" if status >= 500 else "fail")
    assert isinstance(body["message"], str) and body["message"]
    assert set(body) <= {"status", "message", "errors"}
    if message is not None:
        assert body["message"] == message
    return body


def test_health(testapp: webtest.TestApp) -> None:
    response = testapp.get(HEALTH, status=200)
    assert response.json == {"status": "ok"}


def test_unknown_route_is_404(testapp: webtest.TestApp, user_headers: dict[str, str]) -> None:
    for path in ("/nope", "/api/v1/nope", "/api/v2/widgets", "/api/v1/auth/user/extra"):
        assert_error(testapp.get(path, headers=user_headers, expect_errors=True), 404, "Not Found")


def test_unknown_route_without_a_token_is_404(testapp: webtest.TestApp) -> None:
    assert_error(testapp.get("/api/v1/nope", expect_errors=True), 404, "Not Found")


def test_wrong_method_is_405(testapp: webtest.TestApp) -> None:
    wrong = (("GET", REGISTER), ("DELETE", LOGIN), ("PUT", HEALTH), ("PATCH", "/api/v1/openapi.json"))
    for method, path in wrong:
        response = testapp.request(path, method=method, expect_errors=True)
        assert_error(response, 405, "Method Not Allowed")
        assert "Allow" in response.headers


def test_body_over_64_kib_is_413(testapp: webtest.TestApp) -> None:
    body = json.dumps({"email": "a@example.com", "password": "x" * MAX_BODY_BYTES}).encode()
    response = testapp.post(REGISTER, body, content_type="application/json", expect_errors=True)
    assert_error(response, 413)


def test_form_body_over_64_kib_is_413(testapp: webtest.TestApp) -> None:
    response = testapp.post(LOGIN, {"email": "a@example.com", "password": "x" * MAX_BODY_BYTES},
                            expect_errors=True)
    assert_error(response, 413)


def test_body_of_exactly_64_kib_is_read(testapp: webtest.TestApp) -> None:
    prefix, suffix = b'{"email": "a@example.com", "password": "', b'"}'
    body = prefix + b"x" * (MAX_BODY_BYTES - len(prefix) - len(suffix)) + suffix
    assert len(body) == MAX_BODY_BYTES
    response = testapp.post(REGISTER, body, content_type="application/json", expect_errors=True)
    body_json = assert_error(response, 400, "Input payload validation failed")
    assert body_json["errors"] == {"password": "must be at most 72 bytes in UTF-8"}


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data; boundary=x"])
def test_other_media_types_are_415(testapp: webtest.TestApp, content_type: str) -> None:
    response = testapp.post(REGISTER, b"email=a@example.com", content_type=content_type, expect_errors=True)
    assert_error(response, 415)


@pytest.mark.parametrize("body", [b"{", b'{"email": }', b"not json", b"{'email': 'single quotes'}",
                                  b"[" * 60000])
def test_invalid_json_is_400(testapp: webtest.TestApp, body: bytes) -> None:
    response = testapp.post(REGISTER, body, content_type="application/json", expect_errors=True)
    assert_error(response, 400, "The body is not valid JSON")


@pytest.mark.parametrize("body", [b"[]", b'["a@example.com"]', b'"text"', b"42", b"null", b"true"])
def test_json_that_is_not_an_object_is_400(testapp: webtest.TestApp, body: bytes) -> None:
    response = testapp.post(REGISTER, body, content_type="application/json", expect_errors=True)
    assert_error(response, 400, "The body must be a JSON object")


def test_json_that_is_not_utf8_is_400(testapp: webtest.TestApp) -> None:
    body = b'{"email": "caf\xe9@example.com", "password": "' + PASSWORD.encode() + b'"}'
    response = testapp.post(REGISTER, body, content_type="application/json", expect_errors=True)
    assert_error(response, 400, "The body is not valid JSON")


@pytest.mark.parametrize("path", [REGISTER, LOGIN])
@pytest.mark.parametrize("field", ["email", "password"])
def test_json_with_a_lone_surrogate_is_400(testapp: webtest.TestApp, path: str, field: str) -> None:
    """Valid JSON syntax, but "\\ud800" is no character: no database or bcrypt can take it."""
    body = {"email": "alice@example.com", "password": PASSWORD}
    body[field] = "\ud800" + body[field]
    response = testapp.post_json(path, body, expect_errors=True)
    assert_error(response, 400, "The body is not valid JSON")


def test_form_that_is_not_utf8_is_400(testapp: webtest.TestApp) -> None:
    response = testapp.post(REGISTER, b"email=caf\xe9@example.com&password=x",
                            content_type="application/x-www-form-urlencoded", expect_errors=True)
    assert_error(response, 400, "The form body is not valid UTF-8")


def test_json_with_a_charset_and_a_vendor_type_is_accepted(testapp: webtest.TestApp) -> None:
    body = json.dumps({"email": "alice@example.com", "password": PASSWORD}).encode()
    testapp.post(REGISTER, body, content_type="application/json; charset=utf-8", status=201)
    testapp.post(LOGIN, body, content_type="application/vnd.api+json", status=200)


@pytest.mark.parametrize("accept", ["application/xml", "text/html", "text/html,application/xhtml+xml"])
def test_errors_are_json_whatever_the_client_accepts(testapp: webtest.TestApp, accept: str) -> None:
    headers = {"Accept": accept}
    assert_error(testapp.get("/api/v1/nope", headers=headers, expect_errors=True), 404)
    assert_error(testapp.get("/api/v1/auth/user", headers=headers, expect_errors=True), 401, "Unauthorized")
    response = testapp.post_json(REGISTER, {"email": "bad"}, headers=headers, expect_errors=True)
    assert assert_error(response, 400)["errors"] == {"email": "bad is not a valid email",
                                                      "password": "is required"}


class Broken:
    auth_required = False

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise RuntimeError("secret detail: /etc/widgetapi password=hunter2")


def test_unexpected_exception_is_a_logged_500(app: falcon.App, caplog: pytest.LogCaptureFixture) -> None:
    app.add_route("/api/v1/broken", Broken())
    testapp = webtest.TestApp(app)
    with caplog.at_level(logging.ERROR):
        response = testapp.get("/api/v1/broken", expect_errors=True)
    body = assert_error(response, 500)
    assert body == {"status": "error", "message": "Internal server error"}
    assert "hunter2" not in response.text and "Traceback" not in response.text
    logged = [record for record in caplog.records if record.exc_info]
    assert len(logged) == 1
    assert logged[0].levelno == logging.ERROR
    assert "/api/v1/broken" in logged[0].getMessage()
    exc_info = logged[0].exc_info
    assert exc_info is not None and isinstance(exc_info[1], RuntimeError)
    assert "hunter2" in caplog.text  # the details go to the log


def test_the_app_keeps_serving_after_a_500(app: falcon.App) -> None:
    app.add_route("/api/v1/broken", Broken())
    testapp = webtest.TestApp(app)
    testapp.get("/api/v1/broken", status=500)
    testapp.get(HEALTH, status=200)
    testapp.post_json(REGISTER, {"email": "alice@example.com", "password": PASSWORD}, status=201)


def unusable_app(database_url: str) -> webtest.TestApp:
    config = Config(env="testing", database_url=database_url, secret_key=SECRET_KEY,
                    token_expire_seconds=5, bcrypt_log_rounds=4)
    return webtest.TestApp(create_app(config))


def assert_unavailable(testapp: webtest.TestApp) -> None:
    """Every database-backed request is a 503, never a 500."""
    response = testapp.get(HEALTH, expect_errors=True)
    assert response.status_int == 503
    assert response.json == UNAVAILABLE
    credentials = {"email": "alice@example.com", "password": PASSWORD}
    for path in (REGISTER, LOGIN):
        response = testapp.post_json(path, credentials, expect_errors=True)
        assert assert_error(response, 503) == UNAVAILABLE
    response = testapp.get("/api/v1/auth/user", headers={"Authorization": "Bearer x"}, expect_errors=True)
    assert response.status_int == 401  # a malformed token is refused before the database is asked


def test_database_server_unreachable_is_503(caplog: pytest.LogCaptureFixture) -> None:
    # Nothing listens on port 1; the connection is refused at once.
    testapp = unusable_app("postgresql://postgres@127.0.0.1:1/test")
    with caplog.at_level(logging.ERROR):
        assert_unavailable(testapp)
    assert "database unavailable" in caplog.text


def test_sqlite_file_gone_is_503(tmp_path: Path) -> None:
    directory = tmp_path / "data"
    directory.mkdir()
    testapp = unusable_app(f"sqlite:///{directory / 'widgetapi.db'}")
    create_tables()
    testapp.get(HEALTH, status=200)
    shutil.rmtree(directory)
    # Pooled connections keep the deleted file open until they go stale; then new ones fail.
    close_database()
    assert_unavailable(testapp)


def test_database_error_mid_request_is_a_generic_5xx(testapp: webtest.TestApp,
                                                       user_headers: dict[str, str]) -> None:
    """A table gone under a running app: SQLite calls that an OperationalError (503), PostgreSQL
    a ProgrammingError (500); either way a generic JSON error that names nothing inside."""
    database.execute_sql("DROP TABLE sessions")
    response = testapp.get("/api/v1/auth/user", headers=user_headers, expect_errors=True)
    assert response.status_int in (500, 503)
    assert response.json in (UNAVAILABLE, {"status": "error", "message": "Internal server error"})
    assert "sessions" not in response.text
