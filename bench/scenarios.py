"""Issue #11's measurements: each endpoint against the bare Falcon ceiling, a login at
bcrypt cost 12, reads during a login flood, and the list at scale.

widgetapi runs as `widgetapi serve --threads 4` with the production configuration (its own
secret key, bcrypt cost 12) and everything else at its defaults, except: tokens that outlive
the run, and login throttling set so high that it never answers 429 (the loads log in
hundreds of times a minute from one address; the throttle's own cost is still measured).
"""
from __future__ import annotations

import json
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench import seed, wrk
from bench.servers import Server, pinned_server, request

ROOT = Path(__file__).resolve().parent.parent
API = "/api/v1"
WIDGET = f"{API}/widgets/sample-widget-42"
FIRST_PAGE = f"{API}/widgets?page=1&per_page=10"
BOOKS_PAGE = f"{API}/books?page=1&per_page=10"
CURRENT_USER = f"{API}/auth/user"
LOGIN = f"{API}/auth/login"

THREADS = 4
WIDGETS = 100
BOOKS_PER_USER = 12  # each user's first page holds 10, as the widget list's does
SCALE_WIDGETS = 100_000
SCALE_SESSIONS = 1_000_000
# Eight users, eight tokens taken in turn: reads come from many clients, as they do in
# production, not from one token the server might favour.
USERS = 8
# Logins beyond the hashes a server runs at once (half its threads) plus as many waiting
# are refused by design (503): four clients is what it serves, and the flood of issue #7.
LOGIN_CLIENTS = 4
TOKEN_LIFETIME = 24 * 3600
UNTHROTTLED = "100000"

SCENARIOS = ("widget", "list", "book", "books", "user", "login", "flood", "scale")
# What a scenario is compared with, so `--only` runs it too.
NEEDS = {"flood": "widget", "scale": "list"}

# The contract's settings: the server gets none of them from the caller's environment,
# so every run measures the same configuration.
SETTINGS = (
    "WIDGETAPI_ENV", "DATABASE_URL", "SECRET_KEY", "TOKEN_EXPIRE_SECONDS", "BCRYPT_LOG_ROUNDS",
    "CORS_ALLOW_ORIGINS", "DATABASE_POOL_SIZE", "TRUSTED_PROXIES", "LOGIN_MAX_FAILURES",
    "AUTH_RATE_PER_MINUTE", "PASSWORD_HASH_CONCURRENCY", "SECRET_KEY_PREVIOUS", "JWT_ALGORITHM",
    "JWT_PRIVATE_KEY_FILE", "JWT_PREVIOUS_PUBLIC_KEY_FILES", "TOKEN_ISSUER", "TOKEN_AUDIENCE",
    "LOG_FORMAT", "METRICS_ENABLED", "MAX_BOOKS_PER_USER", "ALLOWED_HOSTS", "PYTHONPATH",
)


class ScenarioFailed(Exception):
    """A scenario's request is not answered as it should be: measuring it would mislead."""


@dataclass(frozen=True)
class Settings:
    duration: int
    runs: int
    scenarios: tuple[str, ...]
    database_url: str | None = None  # None: SQLite files in the temporary directory
    source: Path | None = None  # None: the widgetapi this interpreter imports
    server_cpu: int = 0
    load_cpu: int = 1


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    measurement: wrk.Measurement
    to_ceiling: float | None = None
    to_small: float | None = None  # scale rows: to the 100-widget list
    note: str = ""


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    memory: dict[str, int] = field(default_factory=dict)  # server → RSS bytes after its load
    notes: list[str] = field(default_factory=list)

    def row(self, key: str) -> Row | None:
        return next((row for row in self.rows if row.key == key), None)


def selected(only: list[str] | None) -> tuple[str, ...]:
    """The scenarios to run, in order: `only` and what they are compared with, or all."""
    wanted = set(only or SCENARIOS)
    wanted |= {NEEDS[name] for name in wanted if name in NEEDS}
    return tuple(name for name in SCENARIOS if name in wanted)


def server_environment(database_url: str, source: Path | None, secret_key: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in SETTINGS}
    env.update(WIDGETAPI_ENV="production", ALLOWED_HOSTS="127.0.0.1", DATABASE_URL=database_url,
               SECRET_KEY=secret_key,
               BCRYPT_LOG_ROUNDS="12", TOKEN_EXPIRE_SECONDS=str(TOKEN_LIFETIME),
               AUTH_RATE_PER_MINUTE=UNTHROTTLED, LOGIN_MAX_FAILURES=UNTHROTTLED)
    if source is not None:
        env["PYTHONPATH"] = str(source.resolve())  # the seeding runs elsewhere
    return env


def widgetapi_command() -> list[str]:
    """The `widgetapi` command of this interpreter's environment (with PYTHONPATH, it runs
    whichever widgetapi that names)."""
    return [str(Path(sys.executable).with_name("widgetapi"))]


def serve_command(port: int) -> list[str]:
    return [*widgetapi_command(), "serve", "--host", "127.0.0.1", "--port", str(port),
            "--threads", str(THREADS)]


def bare_command(port: int) -> list[str]:
    return [sys.executable, "-m", "bench.bare", "--port", str(port), "--threads", str(THREADS)]


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


class Bench:
    """One run of the benchmark, its files in `directory`."""

    def __init__(self, settings: Settings, directory: Path) -> None:
        self.settings = settings
        self.directory = directory
        self.results = Results()
        self.secret_key = secrets.token_urlsafe(48)
        self.book_paths = directory / "book-paths-small.txt"

    def run(self) -> Results:
        bare_env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
        with pinned_server(self.settings.server_cpu, bare_command, bare_env,
                           self.directory / "bare.log", cwd=ROOT) as bare:
            with self.widgetapi("small", WIDGETS) as (server, tokens, logins):
                self.small(bare, server, tokens, logins)
            if "scale" in self.settings.scenarios:
                with self.widgetapi("scale", SCALE_WIDGETS, SCALE_SESSIONS) as (server, tokens, _):
                    self.scale(server, tokens)
        return self.results

    @contextmanager
    def widgetapi(self, name: str, widgets: int, sessions: int = 0) -> Iterator[tuple[Server, Path, Path]]:
        """widgetapi serving a fresh database with `widgets` widgets and `sessions` revoked
        tokens or ended sessions; yields it with files of USERS tokens and login bodies.
        For the book scenarios each user has BOOKS_PER_USER books, and `book-paths-NAME.txt`
        the path of each one's first book (in the tokens' order)."""
        with seed.fresh_database(self.settings.database_url, self.directory, name) as url:
            env = server_environment(url, self.settings.source, self.secret_key)
            started = time.monotonic()
            progress(f"{name}: seeding {widgets:,} widgets")
            seed.prepare(widgetapi_command(), env, widgets, self.directory / f"seed-{name}.log")
            if sessions:
                table = seed.fill_ended_sessions(url, sessions)
                self.results.notes.append(f"{name} database: {widgets:,} widgets and {sessions:,} rows "
                                          f"in {table}, seeded in {time.monotonic() - started:.1f} s")
            seed.settle(url)
            with pinned_server(self.settings.server_cpu, serve_command, env,
                               self.directory / f"widgetapi-{name}.log") as server:
                progress(f"{name}: registering {USERS} users (bcrypt cost 12)")
                accounts = seed.register_users(server.url, USERS)
                tokens = self.directory / f"tokens-{name}.txt"
                tokens.write_text("".join(f"{account.token}\n" for account in accounts))
                logins = self.directory / f"logins-{name}.txt"
                bodies = ({"email": account.email, "password": seed.PASSWORD} for account in accounts)
                logins.write_text("".join(f"{json.dumps(body)}\n" for body in bodies))
                if name == "small" and {"book", "books"} & set(self.settings.scenarios):
                    progress(f"small: adding {BOOKS_PER_USER} books for each user")
                    paths = seed.add_books(server.url, accounts, BOOKS_PER_USER)
                    self.book_paths.write_text("".join(f"{path}\n" for path in paths))
                yield server, tokens, logins

    def measure(self, server: Server, load: wrk.Load) -> wrk.Measurement:
        return wrk.measure(self.settings.load_cpu, server.url, load, self.settings.duration,
                           self.settings.runs)

    def small(self, bare: Server, server: Server, tokens: Path, logins: Path) -> None:
        chosen = self.settings.scenarios
        reads = {"widget": ("GET /widgets/{name} (token)", wrk.Load("GET", WIDGET, tokens)),
                 "list": ("GET /widgets?per_page=10 (token)", wrk.Load("GET", FIRST_PAGE, tokens)),
                 # each user reads their own book (another's is a 404)
                 "book": ("GET /books/{id} (token, own book)",
                          wrk.Load("GET", f"{API}/books", tokens, paths=self.book_paths)),
                 "books": ("GET /books?per_page=10 (token)", wrk.Load("GET", BOOKS_PAGE, tokens)),
                 "user": ("GET /auth/user (token)", wrk.Load("GET", CURRENT_USER, tokens))}
        progress("the bare Falcon app (the ceiling)")
        ceiling = self.measure(bare, wrk.Load("GET", WIDGET, tokens))
        self.results.rows.append(Row("ceiling", "bare Falcon app, fixed JSON", ceiling, 1.0))
        for key, (label, load) in reads.items():
            if key in chosen:
                check(server, load)
                progress(label)
                measured = self.measure(server, load)
                self.results.rows.append(Row(key, label, measured, measured.rate / ceiling.rate))
        login = wrk.Load("POST", LOGIN, bodies=logins, connections=LOGIN_CLIENTS)
        if "login" in chosen or "flood" in chosen:
            check(server, login)
        if "login" in chosen:
            progress("POST /auth/login")
            measured = self.measure(server, login)
            self.results.rows.append(Row("login", f"POST /auth/login (cost 12, {LOGIN_CLIENTS} clients)",
                                         measured, measured.rate / ceiling.rate))
        if "flood" in chosen:
            progress(f"GET /widgets/{{name}} during a {LOGIN_CLIENTS}-client login flood")
            self.results.rows.append(self.flood(server, wrk.Load("GET", WIDGET, tokens), login, ceiling))
        self.results.memory["widgetapi"] = server.rss_bytes()
        self.results.memory["bare Falcon app"] = bare.rss_bytes()

    def flood(self, server: Server, reads: wrk.Load, logins: wrk.Load, ceiling: wrk.Measurement) -> Row:
        """Reads measured while LOGIN_CLIENTS clients log in without pause."""
        seconds = self.settings.duration
        measured, flooding = [], []
        for _ in range(self.settings.runs):
            flood = wrk.start(self.settings.load_cpu, server.url, logins, seconds + 2)
            try:
                time.sleep(1)  # the flood is under way before the reads start
                measured.append(wrk.run(self.settings.load_cpu, server.url, reads, seconds))
            except BaseException:
                flood.kill()
                flood.communicate()
                raise
            flooding.append(wrk.finish(flood, seconds + 2))
        result, flood_result = wrk.median(measured), wrk.median(flooding)
        return Row("flood", f"GET /widgets/{{name}} during {LOGIN_CLIENTS}-client login flood", result,
                   result.rate / ceiling.rate,
                   note=f"{flood_result.rate:.1f} logins/s meanwhile, {flood_result.errors} failed")

    def scale(self, server: Server, tokens: Path) -> None:
        ceiling, small = self.results.row("ceiling"), self.results.row("list")
        last = (SCALE_WIDGETS + 9) // 10
        for key, page in (("scale-first", 1), ("scale-last", last)):
            load = wrk.Load("GET", f"{API}/widgets?page={page}&per_page=10", tokens)
            check(server, load, lambda body: bool(body.get("items")))
            label = f"GET /widgets?per_page=10&page={page} at scale"
            progress(label)
            measured = self.measure(server, load)
            self.results.rows.append(Row(
                key, label, measured,
                measured.rate / ceiling.measurement.rate if ceiling else None,
                measured.rate / small.measurement.rate if small else None))
        self.results.memory["widgetapi at scale"] = server.rss_bytes()


def check(server: Server, load: wrk.Load, good: Callable[[dict], bool] = lambda body: True) -> None:
    """Send the load's first request once: it must succeed, or the figures would measure errors."""
    token = load.tokens.read_text().split()[0] if load.tokens else None
    body = json.loads(load.bodies.read_text().splitlines()[0]) if load.bodies else None
    path = load.first_path()
    reply = request(server.url, load.method, path, body, token)
    if not 200 <= reply.status < 300 or not isinstance(reply.body, dict) or not good(reply.body):
        raise ScenarioFailed(f"{load.method} {path} answered {reply.status}: {str(reply.body)[:500]}")
