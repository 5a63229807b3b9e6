"""The `widgetapi` command: serve, init-db, create-admin, seed, purge-tokens."""
from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import peewee

from widgetapi import keys, operations
from widgetapi.config import INSECURE_DEV_KEY, JWT_ALGORITHMS, Config, ConfigError

log = logging.getLogger("widgetapi")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="widgetapi", description="The widgetapi server and its tools.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="create missing tables and serve the API with waitress")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--threads", type=int, default=4)

    commands.add_parser("init-db", help="create missing tables and bring older ones up to date")

    admin = commands.add_parser(
        "create-admin", help="create an administrator, or promote an existing user",
        description="The password comes from WIDGETAPI_ADMIN_PASSWORD, or a prompt.")
    admin.add_argument("email")

    seed = commands.add_parser("seed", help="add sample widgets owned by an administrator")
    seed.add_argument("--count", type=int, default=10)

    commands.add_parser("purge-tokens", help="remove the sessions of tokens that have expired")

    gen_key = commands.add_parser(
        "gen-key", help="print a new SECRET_KEY, or write a new Ed25519 key pair for EdDSA",
        description="HS256 (the default) prints a new random secret for SECRET_KEY. EdDSA writes a new "
                    "Ed25519 key pair as PEM files (the private key readable by its owner alone) and "
                    "prints the settings that use it. Existing files are never overwritten. Reads no "
                    "environment variables.")
    gen_key.add_argument("--algorithm", choices=JWT_ALGORITHMS, default="HS256",
                         help="HS256: a shared secret; EdDSA: a key pair whose public key other "
                              "services can fetch (default: %(default)s)")
    gen_key.add_argument("--private-key", type=Path, default=Path("jwt-ed25519.pem"), metavar="FILE",
                         help="EdDSA: the private key file to create, mode 0600 (default: %(default)s)")
    gen_key.add_argument("--public-key", type=Path, default=Path("jwt-ed25519.pub.pem"), metavar="FILE",
                         help="EdDSA: the public key file to create (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        # gen-key makes the key a production environment refuses to start without
        config = Config() if args.command == "gen-key" else Config.from_env()
        return COMMANDS[args.command](config, args)
    except (ConfigError, operations.OperationFailed) as error:
        print(f"widgetapi: {error}", file=sys.stderr)
        return 2
    except (peewee.DatabaseError, peewee.InterfaceError) as error:  # unreachable, unopenable
        print(f"widgetapi: cannot use the database: {error}", file=sys.stderr)
        return 2


def serve(config: Config, args: argparse.Namespace) -> int:
    import waitress

    from widgetapi.app import create_app
    from widgetapi.server import waitress_options

    if args.threads < 1:
        raise ConfigError("--threads must be 1 or more")
    # a database connection per thread, and one for the background purge of expired sessions
    config = replace(config, database_pool_size=args.threads + 1)
    app = create_app(config)
    operations.init_db()
    base = f"http://{args.host}:{args.port}/api/v1"
    print(f"widgetapi ({config.env}) on {config.database_url}", flush=True)
    print(f"API:        {base}", flush=True)
    print(f"Swagger UI: {base}/ui", flush=True)
    if config.secret_key == INSECURE_DEV_KEY:
        print("Signing tokens with the built-in development key: set SECRET_KEY for real use", flush=True)
    if not operations.has_administrator():
        print(f"No administrator yet, so nobody can write widgets: {operations.MAKE_ADMIN}", flush=True)
    # falcon types start_response more narrowly than the WSGI stubs do
    waitress.serve(app, host=args.host, port=args.port,  # type: ignore[arg-type]
                   **waitress_options(args.threads))
    return 0


def init_db(config: Config, args: argparse.Namespace) -> int:
    operations.open_and_init(config)
    print(f"Tables ready in {config.database_url}")
    return 0


def create_admin(config: Config, args: argparse.Namespace) -> int:
    operations.open_and_init(config)
    outcome = operations.create_admin(config, args.email, lambda: _admin_password())
    email = args.email.strip().lower()
    if outcome == operations.CREATED:
        print(f"Created administrator {email}")
    elif outcome == operations.PROMOTED:
        print(f"Promoted existing user to administrator: {email}")
    else:
        print(f"{email} is already an administrator")
    return 0


def _admin_password() -> str:
    password = os.environ.get("WIDGETAPI_ADMIN_PASSWORD")
    if password:
        return password
    if not sys.stdin.isatty():
        raise operations.OperationFailed("set WIDGETAPI_ADMIN_PASSWORD or run in a terminal to be asked")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != password:
        raise operations.OperationFailed("the passwords do not match")
    return password


def seed(config: Config, args: argparse.Namespace) -> int:
    operations.open_and_init(config)
    names = operations.seed(args.count)
    print(f"Added {len(names)} widgets" + (f": {', '.join(names)}" if names else ""))
    return 0


def purge_tokens(config: Config, args: argparse.Namespace) -> int:
    operations.open_and_init(config)
    count = operations.purge_tokens()
    print(f"Removed {count} expired sessions")
    return 0


def gen_key(config: Config, args: argparse.Namespace) -> int:
    if args.algorithm == "HS256":
        print(keys.new_secret())
        print("Set it as SECRET_KEY on every process (rotating: move the old key to SECRET_KEY_PREVIOUS).",
              file=sys.stderr)
        return 0
    private_key, public_key = args.private_key.absolute(), args.public_key.absolute()
    try:
        kid = keys.write_key_pair(private_key, public_key)
    except FileExistsError as error:
        raise operations.OperationFailed(f"{error.filename} already exists: "
                                         "gen-key never overwrites a key (name other files with "
                                         "--private-key and --public-key)") from None
    except (OSError, ValueError) as error:
        raise operations.OperationFailed(f"cannot write the key pair: {error}") from None
    print(f"Wrote a new Ed25519 key pair (kid {kid}):")
    print(f"  private key: {private_key}  (mode 0600: keep it secret, give it to every server process)")
    print(f"  public key:  {public_key}")
    print("Set on every server process:")
    print("  JWT_ALGORITHM=EdDSA")
    print(f"  JWT_PRIVATE_KEY_FILE={private_key}")
    print("Rotating: add the previous public key file to JWT_PREVIOUS_PUBLIC_KEY_FILES (comma-separated).")
    return 0


COMMANDS = {"serve": serve, "init-db": init_db, "create-admin": create_admin, "seed": seed,
            "purge-tokens": purge_tokens, "gen-key": gen_key}

if __name__ == "__main__":
    raise SystemExit(main())
