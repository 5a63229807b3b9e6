"""The `widgetapi` command and scripts/, run as real subprocesses against the test database."""
from __future__ import annotations

import os
import pty
import select
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import webtest
from conftest import PASSWORD, SECRET_KEY, bearer, login, register
from servers import environment, free_port, server_process, widgetapi_serve
from widget_helpers import WIDGETS, create_widget, widget_body

from widgetapi.db import database
from widgetapi.models import User, Widget

ROOT = Path(__file__).resolve().parent.parent
# Settings the tests choose themselves, so the caller's environment cannot leak in.
OWN_VARIABLES = ("WIDGETAPI_ENV", "DATABASE_URL", "SECRET_KEY", "TOKEN_EXPIRE_SECONDS",
                 "BCRYPT_LOG_ROUNDS", "CORS_ALLOW_ORIGINS", "WIDGETAPI_ADMIN_PASSWORD")
TIMEOUT = 60


def run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # No terminal: stdin is empty and a new session has no controlling tty to prompt on.
    return subprocess.run(command, env=environment(env, OWN_VARIABLES), cwd=cwd, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=TIMEOUT, start_new_session=True)


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return {"WIDGETAPI_ENV": "testing", "DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY}


@pytest.fixture
def cli(app, env, tmp_path):
    """Run `widgetapi ARGS...` on the test database (set up by the app fixture)."""
    def widgetapi(*args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return run([sys.executable, "-m", "widgetapi.cli", *args], {**env, **extra_env}, tmp_path)
    return widgetapi


def users() -> dict[str, User]:
    with database.connection_context():
        return {user.email: user for user in User.select()}


def widgets() -> list[Widget]:
    with database.connection_context():
        return list(Widget.with_owner())


# --- init-db ---------------------------------------------------------------------------------

def test_init_db_keeps_existing_data(cli, testapp, admin_headers):
    create_widget(testapp, admin_headers, "precious")
    for _ in range(2):
        result = cli("init-db")
        assert result.returncode == 0, result.stderr
    assert testapp.get(f"{WIDGETS}/precious", headers=admin_headers).json["name"] == "precious"
    assert set(users()) == {"admin@example.com"}


def test_init_db_creates_the_tables_in_a_new_file(tmp_path):
    path = tmp_path / "fresh.db"
    result = run([sys.executable, "-m", "widgetapi.cli", "init-db"],
                 {"WIDGETAPI_ENV": "testing", "DATABASE_URL": f"sqlite:///{path}"}, tmp_path)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(path) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"users", "widgets", "sessions"} <= tables


@pytest.mark.parametrize(("url", "mentions"), [
    ("mysql://user@host/db", "DATABASE_URL"),
    ("sqlite:////no-such-directory/sub/x.db", "unable to open database file"),
    ("postgresql://postgres@127.0.0.1:1/test", "database"),
])
def test_init_db_with_an_unusable_database(tmp_path, url, mentions):
    result = run([sys.executable, "-m", "widgetapi.cli", "init-db"],
                 {"WIDGETAPI_ENV": "testing", "DATABASE_URL": url}, tmp_path)
    assert result.returncode != 0
    assert mentions in result.stderr
    assert "Traceback" not in result.stderr


# --- create-admin ----------------------------------------------------------------------------

def test_create_admin(cli, testapp):
    result = cli("create-admin", "  Boss@Example.COM ", WIDGETAPI_ADMIN_PASSWORD=PASSWORD)
    assert result.returncode == 0, result.stderr
    assert "boss@example.com" in result.stdout
    assert users()["boss@example.com"].admin is True
    headers = bearer(login(testapp, "boss@example.com"))
    create_widget(testapp, headers, "made-by-boss")
    owner = testapp.get(f"{WIDGETS}/made-by-boss", headers=headers).json["owner"]
    assert owner["email"] == "boss@example.com"


def test_create_admin_promotes_an_existing_user_and_keeps_the_password(cli, testapp: webtest.TestApp):
    old_headers = bearer(register(testapp, "promoted@example.com"))
    result = cli("create-admin", "promoted@example.com", WIDGETAPI_ADMIN_PASSWORD="a-different-password")
    assert result.returncode == 0, result.stderr
    assert "Promoted" in result.stdout
    assert users()["promoted@example.com"].admin is True
    testapp.post_json("/api/v1/auth/login", {"email": "promoted@example.com",
                                             "password": "a-different-password"}, status=401)
    # A token issued before the promotion does not say admin; a new login's does.
    testapp.post_json(WIDGETS, widget_body("w"), headers=old_headers, status=403)
    create_widget(testapp, bearer(login(testapp, "promoted@example.com", PASSWORD)), "w")


def test_create_admin_promotes_without_needing_a_password(cli, testapp):
    register(testapp, "promoted@example.com")
    result = cli("create-admin", "promoted@example.com")
    assert result.returncode == 0, result.stderr
    assert users()["promoted@example.com"].admin is True


def test_create_admin_says_when_the_user_is_already_an_administrator(cli, testapp):
    assert cli("create-admin", "boss@example.com", WIDGETAPI_ADMIN_PASSWORD=PASSWORD).returncode == 0
    token = login(testapp, "boss@example.com")
    result = cli("create-admin", " BOSS@example.com", WIDGETAPI_ADMIN_PASSWORD="another password")
    assert result.returncode == 0, result.stderr
    assert "boss@example.com is already an administrator" in result.stdout
    # nothing changed: the password, the administrator, the sessions
    testapp.get("/api/v1/users", headers=bearer(token), status=200)
    login(testapp, "boss@example.com", PASSWORD)


@pytest.mark.parametrize(("email", "password", "mentions"), [
    ("not-an-email", PASSWORD, "email"),
    ("two words@example.com", PASSWORD, "email"),
    ("short@example.com", "short", "password"),
    ("long@example.com", "é" * 37, "password"),  # 74 bytes: past bcrypt's 72
])
def test_create_admin_refuses_bad_input(cli, email, password, mentions):
    result = cli("create-admin", email, WIDGETAPI_ADMIN_PASSWORD=password)
    assert result.returncode != 0
    assert mentions in result.stderr
    assert "Traceback" not in result.stderr
    assert users() == {}


def test_create_admin_without_password_or_terminal(cli):
    result = cli("create-admin", "boss@example.com")
    assert result.returncode != 0
    assert "WIDGETAPI_ADMIN_PASSWORD" in result.stderr
    assert "Traceback" not in result.stderr
    assert users() == {}


# --- seed ------------------------------------------------------------------------------------

def test_seed_adds_widgets_owned_by_the_admin(cli, testapp, admin_headers):
    register(testapp, "not-admin@example.com")
    result = cli("seed", "--count", "3")
    assert result.returncode == 0, result.stderr
    first = widgets()
    assert len(first) == 3
    assert {widget.owner and widget.owner.email for widget in first} == {"admin@example.com"}

    result = cli("seed", "--count", "3")
    assert result.returncode == 0, result.stderr
    names = [widget.name for widget in widgets()]
    assert len(names) == len(set(names)) == 6
    # Seeded widgets are valid widgets: the API reads them, with deadlines ahead.
    for name in names:
        widget = testapp.get(f"{WIDGETS}/{name}", headers=admin_headers).json
        assert widget["deadline_passed"] is False


def test_seed_around_existing_names(cli, testapp, admin_headers):
    create_widget(testapp, admin_headers, "sample-widget-2")
    result = cli("seed", "--count", "2")
    assert result.returncode == 0, result.stderr
    assert len(widgets()) == 3


def test_seed_without_an_admin(cli, testapp):
    register(testapp, "user@example.com")
    result = cli("seed", "--count", "3")
    assert result.returncode != 0
    assert "create-admin" in result.stderr
    assert "Traceback" not in result.stderr
    assert widgets() == []


def test_seed_with_a_negative_count(cli, admin_headers):
    result = cli("seed", "--count", "-1")
    assert result.returncode != 0
    assert "--count" in result.stderr
    assert widgets() == []


# --- serve refuses a bad configuration -------------------------------------------------------

@pytest.mark.parametrize(("settings", "mentions"), [
    ({}, "SECRET_KEY"),
    ({"SECRET_KEY": ""}, "SECRET_KEY"),
    ({"SECRET_KEY": "x" * 31}, "SECRET_KEY"),
    ({"SECRET_KEY": SECRET_KEY, "TOKEN_EXPIRE_SECONDS": "abc"}, "TOKEN_EXPIRE_SECONDS"),
    ({"SECRET_KEY": SECRET_KEY, "TOKEN_EXPIRE_SECONDS": "0"}, "TOKEN_EXPIRE_SECONDS"),
    ({"SECRET_KEY": SECRET_KEY, "TOKEN_EXPIRE_SECONDS": "-60"}, "TOKEN_EXPIRE_SECONDS"),
    ({"SECRET_KEY": SECRET_KEY, "TOKEN_EXPIRE_SECONDS": "1.5"}, "TOKEN_EXPIRE_SECONDS"),
    ({"SECRET_KEY": SECRET_KEY, "WIDGETAPI_ENV": "staging"}, "WIDGETAPI_ENV"),
])
def test_serve_refuses_a_bad_production_configuration(tmp_path, settings, mentions):
    env = {"WIDGETAPI_ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.db'}", **settings}
    command = [sys.executable, "-m", "widgetapi.cli", "serve", "--port", str(free_port())]
    result = run(command, env, tmp_path)
    assert result.returncode != 0
    assert mentions in result.stderr
    assert "Traceback" not in result.stderr


# --- serve tells the operator what is missing ------------------------------------------------

@pytest.mark.parametrize(("settings", "with_admin", "hints"), [
    ({}, False, {"No administrator yet", "development key"}),
    ({"SECRET_KEY": SECRET_KEY}, False, {"No administrator yet"}),
    ({"SECRET_KEY": SECRET_KEY}, True, set()),
])
def test_serve_says_what_is_missing(tmp_path, settings, with_admin, hints):
    env = {"WIDGETAPI_ENV": "development", "DATABASE_URL": f"sqlite:///{tmp_path / 'dev.db'}", **settings}
    if with_admin:
        made = run([sys.executable, "-m", "widgetapi.cli", "create-admin", "admin@example.com"],
                   {**env, "WIDGETAPI_ADMIN_PASSWORD": PASSWORD}, tmp_path)
        assert made.returncode == 0, made.stderr
    with server_process(widgetapi_serve, env, tmp_path, cwd=tmp_path, unset=OWN_VARIABLES) as server:
        output = server.output()
    assert "Swagger UI: http://127.0.0.1:" in output
    assert {hint for hint in ("No administrator yet", "development key") if hint in output} == hints


# --- scripts/ --------------------------------------------------------------------------------

def test_scripts(env, app, testapp, tmp_path):
    result = run([sys.executable, str(ROOT / "scripts" / "create_admin.py"), "scripted@example.com"],
                 {**env, "WIDGETAPI_ADMIN_PASSWORD": PASSWORD}, tmp_path)
    assert result.returncode == 0, result.stderr
    headers = bearer(login(testapp, "scripted@example.com"))

    result = run([sys.executable, str(ROOT / "scripts" / "seed.py"), "--count", "2"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    items = testapp.get(WIDGETS, headers=headers).json["items"]
    assert len(items) == 2
    assert {item["owner"]["email"] for item in items} == {"scripted@example.com"}


def test_script_reports_errors_like_the_command(env, app, tmp_path):
    result = run([sys.executable, str(ROOT / "scripts" / "seed.py")], env, tmp_path)
    assert result.returncode != 0
    assert "create-admin" in result.stderr



def read_until(fd: int, marker: bytes, seconds: float = 20) -> bytes:
    """Read from a pipe until `marker` has arrived."""
    seen = b""
    deadline = time.monotonic() + seconds
    while marker not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {marker!r} in {seen!r}"
        if select.select([fd], [], [], remaining)[0]:
            chunk = os.read(fd, 1024)
            assert chunk, f"closed before {marker!r}: {seen!r}"
            seen += chunk
    return seen


@pytest.mark.parametrize(("answers", "created"), [((PASSWORD, PASSWORD), True),
                                                  ((PASSWORD, "something else"), False)])
def test_create_admin_asks_for_the_password_on_a_terminal(env, app, tmp_path, answers, created):
    """Without WIDGETAPI_ADMIN_PASSWORD, a terminal on stdin is asked twice (getpass empties
    the terminal's input before each prompt, so each answer waits for its prompt)."""
    controller, terminal = pty.openpty()
    command = [sys.executable, "-m", "widgetapi.cli", "create-admin", "typed@example.com"]
    process = subprocess.Popen(command, env=environment(env, OWN_VARIABLES), cwd=tmp_path, stdin=terminal,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    assert process.stderr is not None
    try:
        errors = process.stderr.fileno()
        for prompt, answer in zip((b"Password: ", b"again: "), answers, strict=True):
            read_until(errors, prompt)
            os.write(controller, f"{answer}\n".encode())
        stderr = process.stderr.read().decode()
        process.wait(timeout=TIMEOUT)
    finally:
        process.kill()
        process.wait()
        process.stderr.close()
        os.close(terminal)
        os.close(controller)
    if created:
        assert process.returncode == 0, stderr
        assert users()["typed@example.com"].admin is True
    else:
        assert process.returncode != 0
        assert "do not match" in stderr
        assert users() == {}
