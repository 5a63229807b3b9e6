"""The `widgetapi` command: serve, init-db, create-admin, seed, purge-tokens.

Every command names the database it uses (an SQLite file by its absolute path, any other URL
with its password masked), and whatever an operator can fix (the environment, the input, a
database that cannot be used, a port in use) is one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import getpass
import os
import shutil
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from widgetapi import __version__, key_commands, mail, operations, sender
from widgetapi.config import INSECURE_DEV_KEY, Config, ConfigError
from widgetapi.db import describe_database
from widgetapi.logs import configure_logging
from widgetapi.validation import normalize_email

# Every variable a command may read, and what it means (see the README's Configuration).
ENVIRONMENT = {
    "WIDGETAPI_ENV": "development, testing or production (default: development)",
    "DATABASE_URL": "sqlite:///relative.db, sqlite:////absolute.db or "
                    "postgresql://user:password@host:5432/db (add ?pgbouncer=true behind PgBouncer's "
                    "transaction pooling; default: sqlite:///widgetapi.db, in the current directory)",
    "SECRET_KEY": "the key that signs tokens; production needs 32+ characters (default: a development key)",
    "SECRET_KEY_PREVIOUS": "comma-separated older keys that still verify tokens (default: none)",
    "JWT_ALGORITHM": "HS256 or EdDSA (default: HS256)",
    "JWT_PRIVATE_KEY_FILE": "the Ed25519 private key (PEM) for EdDSA (default: none)",
    "JWT_PREVIOUS_PUBLIC_KEY_FILES": "comma-separated Ed25519 public keys that still verify (default: none)",
    "TOKEN_ISSUER": "the iss of tokens (default: widgetapi)",
    "TOKEN_AUDIENCE": "the aud of tokens (default: widgetapi)",
    "TOKEN_EXPIRE_SECONDS": "token lifetime (default: production 3600, development 900, testing 5)",
    "BCRYPT_LOG_ROUNDS": "bcrypt cost, 4-31 (default: production 12, otherwise 4)",
    "CORS_ALLOW_ORIGINS": "comma-separated origins allowed to call the API from a browser (default: none)",
    "DATABASE_POOL_SIZE": "database connections per process (default: 5; serve sets --threads + 1)",
    "LOG_FORMAT": "text or json, one object a line (default: text)",
    "METRICS_ENABLED": "true to serve GET /metrics for Prometheus (default: false)",
    "PROMETHEUS_MULTIPROC_DIR": "where gunicorn's workers keep their metrics (default: none; "
                                "widgetapi.gunicorn_conf sets one)",
    "TRUSTED_PROXIES": "comma-separated addresses or CIDR ranges of reverse proxies whose "
                       "X-Forwarded-For/-Proto/-Host are believed (default: none)",
    "ALLOWED_HOSTS": "comma-separated host names or host:port the API answers for, .example.com for "
                     "its subdomains; others get 400 (default: any; production: required)",
    "LOGIN_MAX_FAILURES": "failed logins per email and client address before a lockout (default: 5)",
    "AUTH_RATE_PER_MINUTE": "login, registration and password requests per client address a minute "
                            "(default: 30)",
    "PASSWORD_HASH_CONCURRENCY": "password hashes at once per process (default: half the threads, "
                                 "at least 1)",
    "MAX_BOOKS_PER_USER": "books one account may keep (default: 1000)",
    "MAIL_URL": "smtp://user:password@host:587 (STARTTLS), smtps://user:password@host:465, "
                "smtp://host:25?starttls=off or log (default: log; production: none, so no password reset)",
    "MAIL_FROM": "the sender address of every mail (default: widgetapi@localhost; production: required)",
    "MAIL_TIMEOUT_SECONDS": "how long to wait for the SMTP server at each step (default: 30)",
    "SSL_CERT_FILE": "a CA certificate (PEM) the SMTP server's may chain to, besides the system's "
                     "(default: none)",
    "PASSWORD_RESET_URL": "the front end's reset page, with {token} where the token goes (default: none)",
    "PASSWORD_RESET_EXPIRE_SECONDS": "how long a password reset token works (default: 1800)",
    "WIDGETAPI_ADMIN_PASSWORD": "the new administrator's password (default: asked on the terminal)",
}
MAIL = ("WIDGETAPI_ENV", "MAIL_URL", "MAIL_FROM", "MAIL_TIMEOUT_SECONDS", "SSL_CERT_FILE")
# Every command but gen-key (and send-test-mail) reads the whole configuration and checks it
# as the server would.
CONFIGURATION = tuple(name for name in ENVIRONMENT if name != "WIDGETAPI_ADMIN_PASSWORD")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults after each option's help; the environment epilog kept as written."""


def _environment(names: Sequence[str]) -> str:
    width = max(len(name) for name in names)
    lines = [f"  {name.ljust(width)}  {ENVIRONMENT[name]}" for name in names]
    return "environment variables read:\n" + "\n".join(lines) + (
        "\n\nThe configuration is checked as a whole, keys included: in production every command "
        "needs SECRET_KEY (or the EdDSA key) and ALLOWED_HOSTS.")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="widgetapi", description="The widgetapi server and its tools.", formatter_class=_HelpFormatter,
        epilog=f"Run `widgetapi COMMAND --help` for a command's options.\n\n{_environment(CONFIGURATION)}")
    parser.add_argument("--version", action="version", version=f"widgetapi {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, reads: Sequence[str], description: str = "") -> Any:
        return commands.add_parser(name, help=summary, description=description or summary,
                                   formatter_class=_HelpFormatter, epilog=_environment(reads))

    serve = command("serve", "create missing tables and serve the API with waitress", CONFIGURATION,
                    "Creates missing tables (as init-db does), then serves the API with waitress "
                    "until Ctrl-C or SIGTERM.")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    serve.add_argument("--port", type=_port, default=8000, help="TCP port to listen on (0: any free port)")
    serve.add_argument("--threads", type=int, default=4,
                       help="requests served at once; the database pool gets one connection more")

    command("init-db", "create missing tables and bring older ones up to date", CONFIGURATION,
            "Creates missing tables and brings tables made by an earlier version up to date, keeping "
            "their data. Safe on a database in use, and to run again.")

    admin = command("create-admin", "create an administrator, or promote an existing user",
                    (*CONFIGURATION, "WIDGETAPI_ADMIN_PASSWORD"),
                    "Creates the user as an administrator, the password coming from WIDGETAPI_ADMIN_PASSWORD "
                    "or a prompt; or promotes an existing user, whose password stays as it is.")
    admin.add_argument("email", help="the administrator's email address")

    seed = command("seed", "add sample widgets owned by an administrator", CONFIGURATION)
    seed.add_argument("--count", type=int, default=10, help="how many widgets to add")

    command("purge-tokens", "remove the sessions of tokens that have expired", CONFIGURATION,
            "Removes the sessions (and logouts) of tokens that have expired anyway (each server "
            "process also does it in the background); for a schedule, e.g. hourly from cron.")

    test_mail = command("send-test-mail", "send one mail through MAIL_URL now, to check the settings", MAIL,
                        "Sends one mail to ADDRESS through MAIL_URL at once (not through the outbox; the "
                        "database is not used) and prints one line: accepted, or the SMTP error (exit 2).")
    test_mail.add_argument("address", help="where to send the test mail")

    key_commands.add_gen_key(commands, _HelpFormatter)
    return parser.parse_args(argv)


def _port(value: str) -> int:
    if not value.isdigit() or int(value) > 65535:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 65535, not {value!r}")
    return int(value)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    config: Config | None = None
    try:
        # gen-key makes the key a production environment refuses to start without
        config = Config() if args.command == "gen-key" else Config.from_env()
        configure_logging(config.log_format)
        return int(COMMANDS[args.command](config, args))
    except operations.OPERATOR_ERRORS as error:
        print(f"widgetapi: {operations.explain(error, config.database_url if config else None)}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C before serving, or at a prompt
        print("\nwidgetapi: interrupted", file=sys.stderr)
        return 130


def launcher() -> str:
    """How to run another widgetapi command, as printed in hints that must work as printed:
    what dev.py says it was started as (`python dev.py`), `widgetapi` when this very command
    is on PATH, else the command's full path."""
    started_as = os.environ.get("WIDGETAPI_LAUNCHER")  # set by dev.py for the command it runs
    if started_as:
        return started_as
    script = Path(sys.executable).with_name("widgetapi.exe" if os.name == "nt" else "widgetapi")
    if not script.exists():
        return f"{sys.executable} -m widgetapi.cli"
    on_path = shutil.which("widgetapi")
    if on_path and Path(on_path).resolve() == script.resolve():
        return "widgetapi"
    return str(script)


def serve(config: Config, args: argparse.Namespace) -> int:
    from widgetapi.app import create_app
    from widgetapi.server import listen

    if args.threads < 1:
        raise ConfigError("--threads must be 1 or more")
    # a database connection per thread, and one for the background purge of expired sessions
    config = replace(config, database_pool_size=args.threads + 1)
    app = create_app(config)
    operations.init_db()
    server: Any = listen(app, args.host, args.port, args.threads)  # first: no "serving" unless it is
    host = f"[{args.host}]" if ":" in args.host else args.host
    base = f"http://{host}:{server.effective_port}/api/v1"
    print(f"widgetapi {__version__} ({config.env}) on {describe_database(config.database_url)}", flush=True)
    print(f"API:        {base}", flush=True)
    print(f"Swagger UI: {base}/ui", flush=True)
    if config.secret_key == INSECURE_DEV_KEY:
        print("Signing tokens with the built-in development key: set SECRET_KEY for real use", flush=True)
    if not operations.has_administrator():
        print(f"No administrator yet, so nobody can write widgets: run `{launcher()} create-admin EMAIL`",
              flush=True)
    # Ctrl-C too: a shell starts a background job with SIGINT ignored, and so would we be
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    sender.start_all()  # the outbox's, before any request: mail queued earlier goes out now
    try:
        server.run()  # until Ctrl-C or SIGTERM: waitress then closes its sockets and returns
    finally:
        sender.stop_all()
    print("widgetapi: stopped", file=sys.stderr, flush=True)
    return 0


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def init_db(config: Config, args: argparse.Namespace) -> int:
    operations.open_and_init(config)
    print(f"Tables ready in {describe_database(config.database_url)}")
    return 0


def create_admin(config: Config, args: argparse.Namespace) -> int:
    operations.open_and_init(config)
    outcome = operations.create_admin(config, args.email, lambda: _admin_password())
    email = normalize_email(args.email)
    where = describe_database(config.database_url)
    if outcome == operations.CREATED:
        print(f"Created administrator {email} in {where}")
    elif outcome == operations.PROMOTED:
        print(f"Promoted existing user to administrator: {email} in {where}")
    else:
        print(f"{email} is already an administrator in {where}")
    return 0


def _admin_password() -> str:
    password = os.environ.get("WIDGETAPI_ADMIN_PASSWORD")
    if password:
        return password
    if not sys.stdin.isatty():
        raise operations.OperationFailed("set WIDGETAPI_ADMIN_PASSWORD or run in a terminal to be asked")
    try:
        password = getpass.getpass("Password: ")
        again = getpass.getpass("Password again: ")
    except EOFError:
        raise operations.OperationFailed("no password given") from None
    if again != password:
        raise operations.OperationFailed("the passwords do not match")
    return password


def seed(config: Config, args: argparse.Namespace) -> int:
    operations.open_and_init(config)
    if not operations.has_administrator():
        raise operations.OperationFailed(
            f"no administrator yet: run `{launcher()} create-admin EMAIL` first")
    names = operations.seed(args.count)
    where = describe_database(config.database_url)
    print(f"Added {len(names)} widgets to {where}" + (f": {', '.join(names)}" if names else ""))
    return 0


def purge_tokens(config: Config, args: argparse.Namespace) -> int:
    operations.open_and_init(config)
    count = operations.purge_tokens()
    print(f"Removed {count} expired sessions from {describe_database(config.database_url)}")
    return 0


def send_test_mail(config: Config, args: argparse.Namespace) -> int:
    if config.mail_url is None:
        raise operations.OperationFailed("MAIL_URL is not set: there is no mail server to send through")
    try:
        print(mail.send_test_mail(mail.parse_mail_url(config.mail_url), config.mail_from, args.address,
                                  config.mail_timeout_seconds, config.ssl_cert_file))
    except mail.DeliveryFailed as error:
        raise operations.OperationFailed(str(error)) from None
    return 0


COMMANDS = {"serve": serve, "init-db": init_db, "create-admin": create_admin, "seed": seed,
            "purge-tokens": purge_tokens, "gen-key": key_commands.gen_key, "send-test-mail": send_test_mail}

if __name__ == "__main__":
    raise SystemExit(main())
