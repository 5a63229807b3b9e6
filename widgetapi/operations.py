"""What the command line and scripts/ do, as functions tests can call."""
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import peewee

from widgetapi import counters
from widgetapi.accounts import promote
from widgetapi.config import Config, ConfigError
from widgetapi.db import UNAVAILABLE, database, describe_database, open_database
from widgetapi.deadlines import WATCHDOG
from widgetapi.keys import KeyRing
from widgetapi.migrations import apply_migrations
from widgetapi.models import User, create_tables
from widgetapi.password_policy import add_password_problem
from widgetapi.passwords import hash_password
from widgetapi.purge import purge_expired_tokens, purge_throttle_records
from widgetapi.spec import load_spec
from widgetapi.timeutil import utcnow
from widgetapi.validation import Validator, normalize_email
from widgetapi.widgets import Widget


class OperationFailed(Exception):
    """An operator's request that cannot be carried out; the message says why."""


# What an operator can fix (the environment, the input, the database), as opposed to a bug:
# the command line and the WSGI entry point say these in one line, never with a traceback.
OPERATOR_ERRORS = (ConfigError, OperationFailed, peewee.DatabaseError, *UNAVAILABLE)


def explain(error: BaseException, database_url: str | None = None) -> str:
    """One line for the operator: what went wrong, naming the database (password masked)."""
    if isinstance(error, (ConfigError, OperationFailed)):
        return str(error)
    reason = " ".join(str(error).split()) or type(error).__name__  # drivers' messages span lines
    where = f" {describe_database(database_url)}" if database_url else ""
    return f"cannot use the database{where}: {reason}"


# Any fixed number: PostgreSQL advisory lock taken while the schema is prepared, so that
# processes starting together do not race to create the same tables.
SCHEMA_LOCK = 0x77696467


MAKE_ADMIN = "run `widgetapi create-admin EMAIL`"

# What create_admin did.
CREATED, PROMOTED, ALREADY_ADMIN = "created", "promoted", "already an administrator"


def has_administrator() -> bool:
    with database.connection_context():
        return User.first_admin() is not None


def open_and_init(config: Config) -> None:
    """Check the whole configuration as the server would (keys included), then open the
    database and create or upgrade its tables."""
    KeyRing.from_config(config)
    open_database(config.database_url)
    init_db()


def init_db() -> None:
    """Create missing tables and apply migrations to older ones; safe to run on a database
    that has data, and from several processes at once."""
    # Unbounded, unlike requests: another process may hold the lock while it migrates, and
    # a migration of a large table takes as long as it takes. SQLite: the write lock up
    # front, or two processes that both read the schema would both try to upgrade to
    # writing and one would fail at once ("database is locked").
    on_sqlite = isinstance(database.obj, peewee.SqliteDatabase)
    with WATCHDOG.lifted(), database.connection_context(), \
            database.atomic(**({"lock_type": "IMMEDIATE"} if on_sqlite else {})):
        if isinstance(database.obj, peewee.PostgresqlDatabase):
            database.execute_sql("SET LOCAL statement_timeout = 0")
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        create_tables()
        apply_migrations(database.obj)
        counters.install(database.obj)  # after migrations: they may rebuild tables


def create_admin(config: Config, email: str, password: Callable[[], str]) -> str:
    """Make `email` an administrator: promote the user if there is one (the password stays),
    else create one with `password()`. Returns CREATED, PROMOTED or ALREADY_ADMIN. It only
    ever adds an administrator, so it cannot break the last-administrator rule."""
    email = normalize_email(email)
    validator = Validator(load_spec())
    with database.connection_context():
        promoted = promote(email)
        if promoted is not None:
            return PROMOTED if promoted else ALREADY_ADMIN
        secret = password()
        body = {"email": email, "password": secret}
        errors = validator.errors("/components/schemas/Registration", body)
        add_password_problem(errors, body, "password", email)
        if errors:
            raise OperationFailed("; ".join(f"{field}: {message}" for field, message in errors.items()))
        try:
            password_hash = hash_password(secret, config.bcrypt_log_rounds)
            User.create(email=email, password_hash=password_hash, admin=True)
        except peewee.IntegrityError:  # registered meanwhile
            return PROMOTED if promote(email) else ALREADY_ADMIN
    return CREATED


def seed(count: int) -> list[str]:
    """Add `count` sample widgets owned by the first administrator; returns their names."""
    if count < 0:
        raise OperationFailed("--count must be 0 or more")
    with database.connection_context():
        owner = User.first_admin()
        if owner is None:
            raise OperationFailed(f"no administrator yet: {MAKE_ADMIN} first")
        taken = {w.name for w in Widget.select(Widget.name).where(Widget.name.startswith("sample-widget-"))}
        names: list[str] = []
        number = 1
        while len(names) < count:
            name = f"sample-widget-{number}"
            if name not in taken:
                names.append(name)
            number += 1
        today = utcnow().replace(hour=23, minute=59, second=59, microsecond=0)
        rows = [{"name": name, "info_url": f"https://example.com/widgets/{name}", "owner": owner,
                 "deadline": today + timedelta(weeks=week)} for week, name in enumerate(names, 1)]
        with database.atomic():
            for batch in peewee.chunked(rows, 100):
                Widget.insert_many(batch).execute()
    return names


def purge_tokens() -> int:
    """Remove sessions whose token has expired anyway; returns how many. Stale throttling
    rows go too."""
    purge_throttle_records()
    return purge_expired_tokens()
