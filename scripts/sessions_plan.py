"""Show that the token check (user + session) stays index lookups with a million sessions.

    python scripts/sessions_plan.py                       # SQLite, in a temporary file
    python scripts/sessions_plan.py --postgres postgresql://postgres@127.0.0.1:5432/postgres

Fills a scratch database (a temporary SQLite file, or a database `widgetapi_sessions_plan`
created on the PostgreSQL server and dropped afterwards) with a user holding --rows
sessions, then prints the query plan of the one query every authenticated request makes
(User.for_token) and the mean time of a thousand such lookups. Nothing is left behind.
"""
from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import peewee

from widgetapi import operations
from widgetapi.db import close_database, database, open_database
from widgetapi.models import User

SCRATCH = "widgetapi_sessions_plan"
LOOKUPS = 1000

FILL_POSTGRESQL = """
INSERT INTO sessions (jti, user_id, issued_at, expires_at)
SELECT md5(i::text), %s, now() AT TIME ZONE 'utc',
       now() AT TIME ZONE 'utc' + (i %% 3600) * interval '1 second'
FROM generate_series(1, %s) AS i"""
FILL_SQLITE = """
INSERT INTO sessions (jti, user_id, issued_at, expires_at)
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
SELECT printf('%032x', i), ?, datetime('now'), datetime('now', '+' || (i % 3600) || ' seconds') FROM n"""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres", metavar="URL",
                        help="any database URL on the PostgreSQL server to use (it is not touched)")
    return parser.parse_args(argv)


def report(rows: int) -> None:
    """Fill the bound database and print the plan and timing of the token check."""
    operations.init_db()
    with database.connection_context():
        started = time.perf_counter()
        is_pg = isinstance(database.obj, peewee.PostgresqlDatabase)
        user = User.create(email="someone@example.com", password_hash="x" * 60)
        if is_pg:
            database.execute_sql(FILL_POSTGRESQL, (user.id, rows))
        else:
            database.execute_sql(FILL_SQLITE, (rows, user.id))
        database.execute_sql("ANALYZE")
        print(f"{rows} sessions written in {time.perf_counter() - started:.1f} s")

        sql, params = User.for_token_query(user.public_id, uuid.uuid4().hex).sql()
        explain = "EXPLAIN ANALYZE " if is_pg else "EXPLAIN QUERY PLAN "
        print(f"\n{sql}\n")
        for row in database.execute_sql(explain + sql, params).fetchall():
            print("  ", " | ".join(str(column) for column in row))

        started = time.perf_counter()
        for _ in range(LOOKUPS):
            User.for_token(user.public_id, uuid.uuid4().hex)
        mean_ms = (time.perf_counter() - started) / LOOKUPS * 1000
        print(f"\nmean User.for_token lookup over {LOOKUPS}: {mean_ms:.3f} ms")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.postgres:
        import psycopg
        from psycopg import sql

        parsed = urlparse(args.postgres)
        admin_url = urlunparse(parsed._replace(scheme="postgresql"))
        scratch_url = urlunparse(parsed._replace(scheme="postgresql", path=f"/{SCRATCH}"))
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(SCRATCH)))
        try:
            open_database(scratch_url)
            print(f"PostgreSQL ({scratch_url})")
            report(args.rows)
        finally:
            close_database()
            with psycopg.connect(admin_url, autocommit=True) as connection:
                connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(SCRATCH)))
    else:
        with tempfile.TemporaryDirectory() as directory:
            open_database(f"sqlite:///{Path(directory) / 'plan.db'}")
            print("SQLite (a temporary file)")
            try:
                report(args.rows)
            finally:
                close_database()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
