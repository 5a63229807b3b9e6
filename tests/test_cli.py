"""The `widgetapi` command and scripts/, run as real subprocesses against the test database."""
from __future__ import annotations

import os
import pty
import re
import select
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import webtest
from conftest import PASSWORD, SECRET_KEY, bearer, login, on_postgresql, register
from servers import environment, free_port, server_process, wait_until_healthy, widgetapi_serve
from widget_helpers import WIDGETS, create_widget, widget_body

from widgetapi.config import Config
from widgetapi.db import database
from widgetapi.models import User
from widgetapi.widgets import Widget

ROOT = Path(__file__).resolve().parent.parent
# Settings the tests choose themselves, so the caller's environment cannot leak in.
OWN_VARIABLES = ("WIDGETAPI_ENV", "DATABASE_URL", "SECRET_KEY", "TOKEN_EXPIRE_SECONDS",
                 "BCRYPT_LOG_ROUNDS", "CORS_ALLOW_ORIGINS", "WIDGETAPI_ADMIN_PASSWORD", "LOG_FORMAT",
                 "METRICS_ENABLED", "PROMETHEUS_MULTIPROC_DIR", "WIDGETAPI_LAUNCHER")
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
    # a fresh token: the commands may outlast the testing one (5 s) on a busy machine
    headers = bearer(login(testapp, "admin@example.com"))
    assert testapp.get(f"{WIDGETS}/precious", headers=headers).json["name"] == "precious"
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
    # Seeded widgets are valid widgets: the API reads them, with deadlines ahead (with a fresh
    # token: the commands may outlast the testing one, 5 s, on a busy machine).
    headers = bearer(login(testapp, "admin@example.com"))
    for name in names:
        widget = testapp.get(f"{WIDGETS}/{name}", headers=headers).json
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
    ({"SECRET_KEY": SECRET_KEY}, "ALLOWED_HOSTS"),
    ({"SECRET_KEY": SECRET_KEY, "ALLOWED_HOSTS": "https://api.example.com"}, "ALLOWED_HOSTS"),
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


# --- help and version ------------------------------------------------------------------------

def widgetapi_command() -> list[str]:
    """The installed console script when there is one (as an operator runs it)."""
    script = Path(sys.executable).with_name("widgetapi")
    return [str(script)] if script.exists() else [sys.executable, "-m", "widgetapi.cli"]


def test_version(tmp_path):
    from importlib.metadata import version

    result = run([*widgetapi_command(), "--version"], {}, tmp_path)
    assert (result.returncode, result.stdout.strip()) == (0, f"widgetapi {version('widgetapi')}")


class RecordingEnvironment(dict):
    """An environment that remembers every name read from it."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def get(self, name, default=None):
        self.read.add(name)
        return super().get(name, default)

    def __getitem__(self, name):
        self.read.add(name)
        return super().__getitem__(name)

    def __contains__(self, name):
        self.read.add(name)
        return super().__contains__(name)


def variables_the_configuration_reads() -> set[str]:
    """Every variable Config.from_env looks at (each command but gen-key reads them all)."""
    from widgetapi.config import Config

    environ = RecordingEnvironment({"WIDGETAPI_ENV": "testing"})
    Config.from_env(environ)
    assert {"DATABASE_URL", "TRUSTED_PROXIES", "ALLOWED_HOSTS", "LOGIN_MAX_FAILURES"} <= environ.read
    return environ.read


@pytest.mark.parametrize(("command", "options", "variables"), [
    ("serve", {"--host": "127.0.0.1", "--port": "8000", "--threads": "4"}, ()),
    ("init-db", {}, ()),
    ("create-admin", {}, ("WIDGETAPI_ADMIN_PASSWORD",)),
    ("seed", {"--count": "10"}, ()),
    ("purge-tokens", {}, ()),
    ("gen-key", {"--algorithm": "HS256", "--private-key": "jwt-ed25519.pem"}, None),
])
def test_help_describes_options_defaults_and_environment(tmp_path, command, options, variables):
    """Each option with its default, and every variable the command reads: the whole
    configuration (all that Config.from_env reads) and the command's own."""
    if variables is not None:
        variables = (*sorted(variables_the_configuration_reads()), *variables)
    result = run([*widgetapi_command(), command, "--help"], {}, tmp_path)
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    for option, default in options.items():
        assert re.search(rf"{option} \S+ \w.* \(default: {re.escape(default)}\)", text), (option, text)
    environment_part = text.split("environment variables read:", 1)[1]
    if variables is None:
        assert environment_part.strip() == "none", text
    for variable in variables or ():
        assert f" {variable} " in f" {environment_part}", (variable, text)


def test_top_level_help_lists_every_command(tmp_path):
    result = run([*widgetapi_command(), "--help"], {}, tmp_path)
    assert result.returncode == 0
    for command in ("serve", "init-db", "create-admin", "seed", "purge-tokens", "--version"):
        assert command in result.stdout


# --- naming the database, never its password -------------------------------------------------

ADMINISTRATION = (["init-db"], ["create-admin", "admin@example.com"], ["seed", "--count", "1"],
                  ["purge-tokens"])


def test_every_command_names_the_sqlite_file_by_its_absolute_path(tmp_path):
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {"WIDGETAPI_ENV": "testing", "DATABASE_URL": "sqlite:///relative.db", "SECRET_KEY": SECRET_KEY,
           "WIDGETAPI_ADMIN_PASSWORD": PASSWORD}
    absolute = str(work / "relative.db")
    for args in ADMINISTRATION:
        result = run([*widgetapi_command(), *args], env, work)
        assert result.returncode == 0, result.stderr
        assert absolute in result.stdout, (args, result.stdout)


@pytest.mark.skipif(not on_postgresql(), reason="needs the PostgreSQL test database")
def test_a_postgresql_password_is_never_printed(app, database_url, tmp_path):
    """Trust authentication ignores the password, so the test database takes any."""
    secret = "sekrit-pass-word"
    with_password = database_url.replace("postgres@", f"postgres:{secret}@", 1)
    assert secret in with_password
    env = {"WIDGETAPI_ENV": "testing", "DATABASE_URL": with_password, "SECRET_KEY": SECRET_KEY,
           "WIDGETAPI_ADMIN_PASSWORD": PASSWORD}
    outputs = []
    for args in ADMINISTRATION:
        result = run([*widgetapi_command(), *args], env, tmp_path)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout + result.stderr)
    with server_process(widgetapi_serve, env, tmp_path, unset=OWN_VARIABLES) as server:
        outputs.append(server.output())
    unreachable = with_password.replace("127.0.0.1:5432", "127.0.0.1:1")
    result = run([*widgetapi_command(), "init-db"], {**env, "DATABASE_URL": unreachable}, tmp_path)
    assert result.returncode == 2
    outputs.append(result.stdout + result.stderr)
    for output in outputs:
        assert secret not in output
        assert "postgres:***@127.0.0.1" in output, output


# --- one clear line, exit status 2 -----------------------------------------------------------

@pytest.mark.parametrize(("url", "mentions"), [
    ("sqlite://widgetapi.db", "two slashes"),
    ("sqlite:data.db", "no slashes after sqlite: (a file is sqlite:///data.db)"),
    ("sqlite:", "names no file"),
    ("sqlite:///", "names no file"),
    ("postgresql://", "names no database"),
    ("postgresql://host:notaport/db", "port"),
    ("postgresql://user:hunter2@host:99999/db", "port"),
    ("mysql://user:hunter2@host/db", "mysql"),
    ("garbage", "not a database URL"),
    ("http://[::1", "not a database URL"),
])
@pytest.mark.parametrize("command", [["init-db"], ["serve", "--port", "0"], ["seed"]])
def test_a_malformed_database_url_is_one_line(tmp_path, url, mentions, command):
    env = {"WIDGETAPI_ENV": "testing", "DATABASE_URL": url}
    result = run([*widgetapi_command(), *command], env, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert mentions in lines[0]
    assert "sqlite:///" in lines[0] and "postgresql://user:password@host" in lines[0]  # what valid looks like
    assert "hunter2" not in result.stderr
    assert result.stdout == ""
    assert not list(tmp_path.glob("*.db"))


@pytest.mark.parametrize("command", [["init-db"], ["serve", "--port", "0"]])
def test_an_unreachable_database_is_one_line(tmp_path, command):
    env = {"WIDGETAPI_ENV": "testing", "DATABASE_URL": "postgresql://postgres:hunter2@127.0.0.1:1/test"}
    result = run([*widgetapi_command(), *command], env, tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("widgetapi: cannot use the database postgresql://postgres:***@127.0.0.1:1/test")
    assert "hunter2" not in result.stderr and "API:" not in result.stdout


def test_a_port_in_use_is_one_line_and_no_banner(tmp_path):
    env = {"WIDGETAPI_ENV": "testing", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
           "SECRET_KEY": SECRET_KEY}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run([*widgetapi_command(), "serve", "--port", str(port)], env, tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""  # no "API: ..." as if serving
    assert result.stderr.splitlines() == [
        f"widgetapi: cannot listen on 127.0.0.1 port {port}: Address already in use "
        "(is another server using it? choose another with --port)"]


@pytest.mark.parametrize(("host", "why"), [
    ("nohost.invalid", "no such host or address"),
    ("999.1.2.3", "no such host or address"),
    ("192.0.2.1", "not an address of this machine"),  # TEST-NET-1: nobody's address
])
def test_a_host_it_cannot_listen_on_is_one_line_naming_the_host(tmp_path, host, why):
    env = {"WIDGETAPI_ENV": "testing", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
           "SECRET_KEY": SECRET_KEY}
    port = free_port()
    result = run([*widgetapi_command(), "serve", "--host", host, "--port", str(port)], env, tmp_path)
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"widgetapi: cannot listen on {host}: ") and why in line, line
    assert str(port) not in line and "--port" not in line  # the host is wrong, not the port


def test_init_db_checks_the_whole_configuration_keys_included(tmp_path):
    """As its --help says: what would stop the server stops init-db, before it touches the
    database."""
    database = tmp_path / "x.db"
    for settings, mentions in [
        ({"JWT_ALGORITHM": "EdDSA", "JWT_PRIVATE_KEY_FILE": str(tmp_path / "missing.pem")},
         "JWT_PRIVATE_KEY_FILE"),
        ({"WIDGETAPI_ENV": "production", "SECRET_KEY": "Fq7-wX2zLp9_Rt4mVb8kNc3hJs6yGd5e"}, "ALLOWED_HOSTS"),
    ]:
        env = {"WIDGETAPI_ENV": "testing", "DATABASE_URL": f"sqlite:///{database}", **settings}
        result = run([*widgetapi_command(), "init-db"], env, tmp_path)
        assert result.returncode == 2, result.stdout + result.stderr
        (line,) = result.stderr.splitlines()
        assert mentions in line
        assert not database.exists()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("sigint", ["inherited", "ignored"], ids=["foreground", "background job"])
def test_ctrl_c_stops_the_server_quietly(tmp_path, stop, sigint):
    """Also when started as a shell's background job (`widgetapi serve &`), which starts
    it with SIGINT ignored: serve installs its own handler."""
    env = {"WIDGETAPI_ENV": "testing", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
           "SECRET_KEY": SECRET_KEY}
    port = free_port()

    def ignore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    process = subprocess.Popen([*widgetapi_command(), "serve", "--port", str(port)],
                               env=environment(env, OWN_VARIABLES), cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=ignore_sigint if sigint == "ignored" else None)
    try:
        assert wait_until_healthy(f"http://127.0.0.1:{port}", process)
        process.send_signal(stop)
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert stderr.rstrip().endswith("widgetapi: stopped")
    assert f"API:        http://127.0.0.1:{port}/api/v1" in stdout


# --- hints that work as printed --------------------------------------------------------------

def hinted_command(output: str) -> list[str]:
    match = re.search(r"run `([^`]*) create-admin EMAIL`", output)
    assert match, output
    return [*shlex.split(match.group(1)), "create-admin", "hinted@example.com"]


def test_the_serve_hint_works_as_printed(tmp_path):
    env = {"WIDGETAPI_ENV": "testing", "DATABASE_URL": f"sqlite:///{tmp_path / 'hint.db'}",
           "SECRET_KEY": SECRET_KEY}
    with server_process(widgetapi_serve, env, tmp_path, cwd=tmp_path, unset=OWN_VARIABLES) as server:
        output = server.output()
    result = run(hinted_command(output), {**env, "WIDGETAPI_ADMIN_PASSWORD": PASSWORD}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Created administrator hinted@example.com" in result.stdout


@pytest.mark.skipif(not (ROOT / ".venv").exists(), reason="no .venv: dev.py has not run in this checkout")
def test_dev_py_runs_any_command_and_its_hint_works_as_printed(tmp_path):
    env = {"WIDGETAPI_ENV": "testing", "DATABASE_URL": f"sqlite:///{tmp_path / 'dev.db'}",
           "SECRET_KEY": SECRET_KEY}
    version = run([sys.executable, "dev.py", "--version"], env, ROOT)
    assert version.returncode == 0, version.stderr
    assert version.stdout.splitlines()[-1].startswith("widgetapi ")  # after any install messages
    seed = run([sys.executable, "dev.py", "seed"], env, ROOT)
    assert seed.returncode == 2
    assert f"run `{shlex.join([sys.executable, 'dev.py'])} create-admin EMAIL` first" in seed.stderr
    result = run(hinted_command(seed.stderr), {**env, "WIDGETAPI_ADMIN_PASSWORD": PASSWORD}, ROOT)
    assert result.returncode == 0, result.stderr
    assert run([sys.executable, "dev.py", "seed", "--count", "2"], env, ROOT).returncode == 0


def test_scripts_without_widgetapi_installed_run_through_dev_py(tmp_path):
    """`python3 scripts/seed.py` with a Python that lacks widgetapi (e.g. the system's)."""
    if not (ROOT / ".venv").exists():
        pytest.skip("no .venv: dev.py has not been run in this checkout")
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=TIMEOUT)
    python = bare / "bin" / "python"
    env = {"WIDGETAPI_ENV": "testing", "DATABASE_URL": f"sqlite:///{tmp_path / 'bare.db'}",
           "SECRET_KEY": SECRET_KEY, "WIDGETAPI_ADMIN_PASSWORD": PASSWORD}
    result = run([str(python), str(ROOT / "scripts" / "create_admin.py"), "bare@example.com"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    result = run([str(python), str(ROOT / "scripts" / "seed.py"), "--count", "2"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Added 2 widgets" in result.stdout


@pytest.mark.skipif(not (ROOT / ".venv").exists(), reason="no .venv: dev.py has not run in this checkout")
def test_ctrl_c_on_dev_py_serve_stops_both_quietly(tmp_path):
    """A terminal's Ctrl-C goes to the whole foreground process group: dev.py and the server."""
    env = {"WIDGETAPI_ENV": "testing", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
           "SECRET_KEY": SECRET_KEY}
    port = free_port()
    process = subprocess.Popen([sys.executable, "dev.py", "serve", "--port", str(port)], cwd=ROOT,
                               env=environment(env, OWN_VARIABLES), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert wait_until_healthy(f"http://127.0.0.1:{port}", process)
        os.killpg(process.pid, signal.SIGINT)
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert "widgetapi: stopped" in stderr


@pytest.mark.parametrize(("key", "mentions"), [
    ("password1password1password1password1", "SECRET_KEY is a short pattern repeated"),
    ("0123456789abcdefghijklmnopqrstuvwxyz", "bits of estimated strength, at least 128 needed"),
])
@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["init-db"]])
def test_production_refuses_a_weak_key_in_one_line(tmp_path, key, mentions, command):
    env = {"WIDGETAPI_ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.db'}",
           "SECRET_KEY": key}
    result = run([*widgetapi_command(), *command], env, tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and mentions in result.stderr, result.stderr
    assert key not in result.stderr


def test_what_gen_key_prints_is_strong_enough_for_production(tmp_path):
    for _ in range(5):
        result = run([*widgetapi_command(), "gen-key"], {}, tmp_path)
        assert result.returncode == 0
        key = result.stdout.strip()
        assert Config.from_env({"WIDGETAPI_ENV": "production", "ALLOWED_HOSTS": "api.example.com",
                                "SECRET_KEY": key}).secret_key == key
