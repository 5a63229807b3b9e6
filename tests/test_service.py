"""The service's own endpoints (widgetapi/resources/service.py) and what every route shares:
the index, HEAD on every GET route, trailing slashes, and /health saying whether the tables
can be used."""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import falcon
import pytest
import webtest
from conftest import SECRET_KEY, drop_tables, on_postgresql
from servers import environment, free_port, request

from widgetapi import __version__, operations
from widgetapi.app import create_app
from widgetapi.config import Config
from widgetapi.db import close_database, database

UNAVAILABLE = {"status": "error", "message": "Service unavailable"}


# --- the index ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/v1", "/api/v1/"])
def test_the_index_links_to_the_rest(testapp: webtest.TestApp, path: str) -> None:
    body = testapp.get(path, status=200).json
    base = "http://localhost:80/api/v1"
    links = {"openapi": f"{base}/openapi.json", "ui": f"{base}/ui", "health": f"{base}/health"}
    assert body == {"name": "widgetapi", "version": __version__, "links": links}
    for link in body["links"].values():  # each link answers, without a token
        testapp.get(link.removeprefix("http://localhost:80"), status=200)


def test_the_version_is_the_packages(testapp: webtest.TestApp) -> None:
    from importlib.metadata import version

    assert testapp.get("/api/v1").json["version"] == version("widgetapi")


def test_index_links_follow_the_host_asked_for(testapp: webtest.TestApp) -> None:
    body = testapp.get("/api/v1", headers={"Host": "api.example.com:8443"}).json
    assert body["links"]["health"] == "http://api.example.com:8443/api/v1/health"


# --- HEAD and trailing slashes -----------------------------------------------------------------

HEAD_PATHS = ["/api/v1", "/api/v1/health", "/api/v1/openapi.json", "/api/v1/openapi.yaml", "/api/v1/ui",
              "/api/v1/ui/swagger-ui.css", "/api/v1/auth/user", "/api/v1/widgets", "/api/v1/widgets/w-1",
              "/api/v1/users"]


@pytest.mark.parametrize("path", HEAD_PATHS)
def test_head_answers_as_get_does_without_a_body(testapp: webtest.TestApp, admin_headers: dict[str, str],
                                                 path: str) -> None:
    testapp.post_json("/api/v1/widgets", {"name": "w-1", "info_url": "https://example.com",
                                          "deadline": "2099-12-31"}, headers=admin_headers, status=201)
    get = testapp.get(path, headers=admin_headers, status=200)
    head = testapp.head(path, headers=admin_headers, status=200)
    assert head.body == b""
    assert head.headers["Content-Type"] == get.headers["Content-Type"]
    assert head.headers["Content-Length"] == str(len(get.body))


def test_head_without_a_token_is_refused_like_get(testapp: webtest.TestApp) -> None:
    response = testapp.head("/api/v1/widgets", status=401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="widgetapi"'


def test_head_on_a_route_without_get_is_405(testapp: webtest.TestApp) -> None:
    testapp.head("/api/v1/auth/login", status=405)


@pytest.mark.parametrize("path", ["/api/v1/health/", "/api/v1/ui/", "/api/v1/openapi.json/",
                                  "/api/v1/widgets/", "/api/v1/widgets/w-1/"])
def test_a_trailing_slash_names_the_same_resource(testapp: webtest.TestApp, admin_headers: dict[str, str],
                                                  path: str) -> None:
    testapp.post_json("/api/v1/widgets", {"name": "w-1", "info_url": "https://example.com",
                                          "deadline": "2099-12-31"}, headers=admin_headers, status=201)
    assert testapp.get(path, headers=admin_headers, status=200).body == \
        testapp.get(path.rstrip("/"), headers=admin_headers, status=200).body


def test_the_ui_page_at_a_trailing_slash_loads_its_files(testapp: webtest.TestApp) -> None:
    page = testapp.get("/api/v1/ui/", status=200).text
    assert 'src="/api/v1/ui/swagger-ui-bundle.js"' in page
    testapp.get("/api/v1/ui/swagger-ui-bundle.js", status=200)


def test_a_write_with_a_trailing_slash(testapp: webtest.TestApp, admin_headers: dict[str, str]) -> None:
    testapp.post_json("/api/v1/widgets/", {"name": "slashed", "info_url": "https://example.com",
                                           "deadline": "2099-12-31"}, headers=admin_headers, status=201)
    testapp.delete("/api/v1/widgets/slashed/", headers=admin_headers, status=204)


# --- /health -----------------------------------------------------------------------------------

def test_health_is_503_on_a_database_without_tables(app: falcon.App, testapp: webtest.TestApp,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    drop_tables()
    with caplog.at_level(logging.ERROR):
        response = testapp.get("/api/v1/health", status=503)
        head = testapp.head("/api/v1/health", status=503)
    assert response.json == UNAVAILABLE
    assert head.body == b""
    messages = [record.getMessage() for record in caplog.records if record.name.startswith("widgetapi")]
    assert any("init-db" in message and "users" in message for message in messages), messages
    operations.init_db()
    testapp.get("/api/v1/health", status=200)


def test_health_is_503_when_a_table_lacks_a_column(app: falcon.App, testapp: webtest.TestApp) -> None:
    """A table from an older version that init-db has not brought up to date."""
    database.execute_sql("ALTER TABLE users DROP COLUMN tokens_valid_after")
    testapp.get("/api/v1/health", status=503)
    operations.init_db()
    testapp.get("/api/v1/health", status=200)


@pytest.mark.skipif(on_postgresql(), reason="a read-only SQLite file")
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root to run the server as another user")
def test_health_is_503_on_a_read_only_sqlite_file(tmp_path: Path) -> None:
    """A file the server may read but not write: reads work, every write fails. The server
    runs as `nobody` (root may write any file), in a directory it may write (SQLite's WAL
    mode keeps files beside the database)."""
    directory = Path(tempfile.mkdtemp(prefix="widgetapi-read-only-"))
    try:
        path = directory / "read-only.db"
        url = f"sqlite:///{path}"
        operations.open_and_init(Config(env="testing", database_url=url))
        close_database()
        directory.chmod(0o777)
        path.chmod(0o444)
        port = free_port()
        code = ("import waitress, widgetapi.wsgi; "
                f"waitress.serve(widgetapi.wsgi.app, host='127.0.0.1', port={port}, threads=2)")
        command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                   sys.executable, "-c", code]
        env = {"WIDGETAPI_ENV": "testing", "DATABASE_URL": url, "SECRET_KEY": SECRET_KEY}
        log = directory / "server.log"
        with log.open("w") as output:
            process = subprocess.Popen(command, env=environment(env), stdout=output, stderr=subprocess.STDOUT,
                                       cwd=directory)
            try:
                health = register = None
                deadline = time.monotonic() + 30
                while health is None and process.poll() is None and time.monotonic() < deadline:
                    try:
                        health = request(f"http://127.0.0.1:{port}", "GET", "/api/v1/health", timeout=10)
                    except OSError:
                        time.sleep(0.1)
                if health is not None:
                    register = request(f"http://127.0.0.1:{port}", "POST", "/api/v1/auth/register",
                                       {"email": "a@example.com", "password": "long enough"})
            finally:
                process.terminate()
                process.wait(timeout=15)
        output_text = log.read_text()
        if health is None and "Permission denied" in output_text:
            pytest.skip(f"nobody may not run this Python: {output_text[-300:]}")
        assert health is not None, output_text
        assert (health.status, health.body) == (503, UNAVAILABLE), output_text
        assert register is not None and register.status == 503
        assert "health check failed" in output_text and "readonly" in output_text, output_text
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_health_is_200_with_usable_tables_on_a_fresh_app(config: Config) -> None:
    testapp = webtest.TestApp(create_app(config))
    drop_tables()
    testapp.get("/api/v1/health", status=503)
    operations.init_db()
    testapp.get("/api/v1/health", status=200)
    drop_tables()
