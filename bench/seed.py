"""What the benchmark's databases hold: a fresh database, an administrator and widgets made
by the `widgetapi` command under test, a million revoked tokens or ended sessions, and
users with tokens registered through the API."""
from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import peewee
from playhouse import db_url

from bench.servers import request

ADMIN_EMAIL = "admin@bench.example"
PASSWORD = "bench password 1"
# Revoked tokens and ended sessions stay valid-looking this long, so no purge removes
# them while the benchmark runs: the table really is that large.
STILL_LIVE = timedelta(days=1)


class SeedingFailed(Exception):
    """The database could not be prepared; the message says why."""


def is_postgresql(url: str) -> bool:
    return urlsplit(url).scheme in ("postgres", "postgresql")


@contextmanager
def fresh_database(requested: str | None, directory: Path, name: str) -> Iterator[str]:
    """A new, empty database, dropped afterwards: an SQLite file `name`.db in `directory`,
    or the PostgreSQL database `requested` names, which must not exist yet."""
    if requested is None:
        yield f"sqlite:///{directory / name}.db"
        return
    import psycopg
    from psycopg import sql

    parts = urlsplit(requested)
    database = parts.path.lstrip("/")
    if not database:
        raise SeedingFailed(f"{requested} names no database")
    maintenance = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
            raise SeedingFailed(f"the database {database!r} exists already: the benchmark creates and "
                                f"drops its own; drop that one (dropdb {database}) or name another")
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    try:
        yield requested
    finally:
        with psycopg.connect(maintenance, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(database)))


def prepare(widgetapi: Sequence[str], env: Mapping[str, str], widgets: int, log: Path) -> None:
    """Create the tables, an administrator and `widgets` widgets with the `widgetapi`
    command under test (so its own code writes whatever it keeps beside them)."""
    admin_env = {**env, "WIDGETAPI_ADMIN_PASSWORD": PASSWORD}
    with log.open("a") as output:
        for arguments in (["create-admin", ADMIN_EMAIL], ["seed", "--count", str(widgets)]):
            completed = subprocess.run([*widgetapi, *arguments], env=admin_env, cwd=log.parent,
                                       stdout=output, stderr=subprocess.STDOUT)
            if completed.returncode:
                raise SeedingFailed(f"`widgetapi {' '.join(arguments)}` failed:\n{log.read_text()[-3000:]}")


def fill_ended_sessions(url: str, count: int) -> str:
    """Add `count` revoked tokens or ended sessions of the administrator, not expired
    yet, to whichever table keeps them (`sessions`, else `revoked_tokens`), with random
    `jti`s as real ones are. Returns the table's name."""
    db = db_url.connect(url)
    try:
        tables = set(db.get_tables())
        table = "sessions" if "sessions" in tables else "revoked_tokens"
        if table not in tables:
            raise SeedingFailed(f"neither a sessions nor a revoked_tokens table in {url}")
        admin = db.execute_sql(f"SELECT id FROM users WHERE email = {db.param}", (ADMIN_EMAIL,)).fetchone()
        columns = _column_values(db.get_columns(table), admin[0])
        rows = _rows(columns, count)
        with db.atomic():
            _insert(db, table, list(columns), rows)
        return table
    finally:
        db.close()


def _column_values(columns: Sequence[peewee.ColumnMetadata], user_id: int) -> dict[str, Any]:
    """The value of each column to fill; "jti" marks the column of random token ids.
    Columns the database fills itself (keys, defaults) are left out."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    known: dict[str, Any] = {
        "jti": "jti", "user_id": user_id, "issued_at": str(now - timedelta(hours=1)),
        "expires_at": str(now + STILL_LIVE), "address": "203.0.113.7", "user_agent": "bench/1.0",
        # how a table might say that a session has ended
        "ended_at": str(now), "revoked_at": str(now), "ended": True, "revoked": True,
    }
    values: dict[str, Any] = {}
    for column in columns:
        if column.name in known:
            values[column.name] = known[column.name]
        elif not (column.null or column.primary_key or column.default is not None):
            raise SeedingFailed(f"bench/seed.py does not know how to fill {column.table}.{column.name}: "
                                "add it to fill_ended_sessions")
    return values


def _rows(columns: Mapping[str, Any], count: int) -> Iterator[tuple[Any, ...]]:
    randomness = os.urandom(16 * count).hex()
    for i in range(count):
        jti = randomness[32 * i:32 * (i + 1)]
        yield tuple(jti if value == "jti" else value for value in columns.values())


def _insert(db: peewee.Database, table: str, columns: list[str], rows: Iterator[tuple[Any, ...]]) -> None:
    names = ", ".join(columns)
    cursor = db.cursor()
    if isinstance(db, peewee.PostgresqlDatabase):  # COPY: a million rows in seconds
        with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        placeholders = ", ".join(db.param for _ in columns)
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", rows)


def settle(url: str) -> None:
    """On PostgreSQL, VACUUM ANALYZE after the bulk load, as autovacuum soon would: the
    benchmark measures a database in its steady state, not one a minute after a load.
    (SQLite never analyzes by itself, and widgetapi does not ask it to.)"""
    if not is_postgresql(url):
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")


@dataclass(frozen=True)
class Account:
    email: str
    token: str


def register_users(base_url: str, count: int, prefix: str = "user") -> list[Account]:
    """Register `count` users through the API (each login a session, where there are
    sessions) and keep their tokens."""
    accounts = []
    for number in range(1, count + 1):
        email = f"{prefix}{number}@bench.example"
        reply = request(base_url, "POST", "/api/v1/auth/register", {"email": email, "password": PASSWORD})
        if reply.status != 201 or not isinstance(reply.body, dict):
            raise SeedingFailed(f"registering {email} answered {reply.status}: {reply.body}")
        accounts.append(Account(email, reply.body["access_token"]))
    return accounts


def add_books(base_url: str, accounts: Sequence[Account], count: int) -> list[str]:
    """`count` books for each account, created through the API; the path of each account's
    first book, in the accounts' order."""
    paths = []
    for account in accounts:
        for number in range(count):
            body = {"name": f"Book {number}", "author": "Bench Author", "publisher": "Bench Press",
                    "price": f"{number}.99"}
            reply = request(base_url, "POST", "/api/v1/books", body, account.token)
            if reply.status != 201 or not isinstance(reply.body, dict):
                raise SeedingFailed(f"a book for {account.email}: answered {reply.status}: {reply.body}")
            if number == 0:
                paths.append(f"/api/v1/books/{reply.body['id']}")
    return paths
