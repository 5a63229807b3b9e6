"""The WSGI entry point (widgetapi/wsgi.py) under real servers: it prepares the database, also
from several processes at once; a configuration it cannot run with is one line and exit
status 2; and the request log looks the same under every server."""
from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import SECRET_KEY, TOKEN_SECONDS, drop_tables, on_postgresql
from servers import environment, gunicorn, request, server_process, waitress_serve, widgetapi_serve

from widgetapi.config import Config

pytestmark = pytest.mark.slow

TIMEOUT = 60
OWN_VARIABLES = ("WIDGETAPI_ENV", "DATABASE_URL", "SECRET_KEY", "LOG_FORMAT", "METRICS_ENABLED",
                 "PROMETHEUS_MULTIPROC_DIR", "TOKEN_EXPIRE_SECONDS", "TRUSTED_PROXIES", "ALLOWED_HOSTS")
ACCESS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO widgetapi\.access \[(\S+)\] (.*)$", re.M)

SERVERS: dict[str, Callable[[int], list[str]]] = {"widgetapi serve": widgetapi_serve,
                                                  "waitress-serve": waitress_serve}
if sys.platform != "win32":
    SERVERS["gunicorn"] = gunicorn


def run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=environment(env, OWN_VARIABLES), cwd=cwd, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=TIMEOUT)


@pytest.mark.parametrize("server", list(SERVERS))
@pytest.mark.parametrize(("settings", "mentions"), [
    ({"DATABASE_URL": "sqlite://widgetapi.db"}, "two slashes"),
    ({"DATABASE_URL": "postgresql://postgres:hunter2@127.0.0.1:1/test"}, "cannot use the database"),
    ({"WIDGETAPI_ENV": "production", "SECRET_KEY": ""}, "SECRET_KEY"),
    ({"WIDGETAPI_ENV": "production"}, "ALLOWED_HOSTS"),
    ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
])
def test_a_bad_configuration_is_one_line_and_exit_status_2(tmp_path: Path, server: str,
                                                           settings: dict[str, str], mentions: str) -> None:
    env = {"WIDGETAPI_ENV": "testing", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
           "SECRET_KEY": SECRET_KEY, **settings}
    result = run(SERVERS[server](0), env, tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    ours = [line for line in result.stderr.splitlines() if line.startswith("widgetapi: ")]
    assert len(ours) == 1 and mentions in ours[0], result.stderr
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="gunicorn runs on Unix only")
def test_plain_gunicorn_stops_on_a_bad_configuration(tmp_path: Path) -> None:
    """Without widgetapi's settings (no preloading), each worker loads the app: a worker that
    cannot exits with gunicorn's boot-error status, and gunicorn stops (status 3) rather than
    starting new workers that fail the same way forever."""
    env = {"WIDGETAPI_ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    # gunicorn's default of one worker: with several, gunicorn 27 itself may trip over the
    # second failed worker while halting (a traceback of its own, status 1), though it stops
    command = [sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:0", "widgetapi.wsgi:app"]
    result = run(command, env, tmp_path)  # run's timeout fails the test if gunicorn never stops
    assert result.returncode == 3, result.stdout + result.stderr
    ours = [line for line in result.stderr.splitlines() if line.startswith("widgetapi: ")]
    refusal = "widgetapi: SECRET_KEY must be set in production"
    assert ours and all(line.startswith(refusal) for line in ours), result.stderr
    assert "Traceback" not in result.stderr
    assert "Worker failed to boot" in result.stderr


def test_several_processes_prepare_a_new_database_at_once(database_url: str, postgresql_database: str | None,
                                                          tmp_path: Path) -> None:
    """As gunicorn workers without preloading do, or several machines starting together."""
    url = database_url if on_postgresql() else f"sqlite:///{tmp_path / 'new.db'}"
    if on_postgresql():
        from widgetapi.db import open_database

        open_database(url)
        drop_tables()
    settings = {"WIDGETAPI_ENV": "testing", "DATABASE_URL": url, "SECRET_KEY": SECRET_KEY}
    env = environment(settings, OWN_VARIABLES)
    processes = [subprocess.Popen([sys.executable, "-c", "import widgetapi.wsgi"], env=env, cwd=tmp_path,
                                  stderr=subprocess.PIPE, text=True) for _ in range(6)]
    results = [(process.wait(timeout=TIMEOUT), process.communicate()[1]) for process in processes]
    assert results == [(0, "")] * 6


@pytest.mark.parametrize("server", list(SERVERS))
def test_each_server_prepares_an_empty_database_and_logs_one_line_per_request(
        app: object, config: Config, tmp_path: Path, server: str) -> None:
    drop_tables()  # as before any init-db
    env = {"WIDGETAPI_ENV": "testing", "DATABASE_URL": config.database_url, "SECRET_KEY": SECRET_KEY,
           "TOKEN_EXPIRE_SECONDS": str(TOKEN_SECONDS), "TRUSTED_PROXIES": "127.0.0.1"}
    with server_process(SERVERS[server], env, tmp_path, unset=OWN_VARIABLES) as process:
        reply = request(process.url, "POST", "/api/v1/auth/register",
                        {"email": "alice@example.com", "password": "correct horse battery"})
        assert reply.status == 201, reply.body
        headers = {"Authorization": f"Bearer {reply.body['access_token']}", "X-Request-ID": "with-token"}
        public_id = request(process.url, "GET", "/api/v1/auth/user", headers=headers).body["public_id"]
        # from a trusted proxy (127.0.0.1 here), the line names the client it forwarded
        headers = {"X-Request-ID": "no-token", "X-Forwarded-For": "203.0.113.9"}
        assert request(process.url, "GET", "/api/v1/widgets/", headers=headers).status == 401
        output = process.output()
    lines = dict(ACCESS.findall(output))
    assert re.fullmatch(rf"GET /api/v1/auth/user 200 \d+\.\dms client=127\.0\.0\.1 user={public_id}",
                        lines["with-token"]), output
    assert re.fullmatch(r"GET /api/v1/widgets 401 \d+\.\dms client=203\.0\.113\.9", lines["no-token"]), output
    assert output.count("[no-token]") == 1, output  # never twice through another handler
