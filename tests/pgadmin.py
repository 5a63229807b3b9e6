"""Creating and dropping a PostgreSQL database for the tests, from its URL."""
from __future__ import annotations

from urllib.parse import urlparse, urlunparse

import psycopg
from psycopg import sql


def _maintenance_url(url: str) -> tuple[str, str]:
    """The URL of the server's `postgres` database, and the name of the one in `url`."""
    parsed = urlparse(url)
    maintenance = parsed._replace(scheme="postgresql", path="/postgres", query="")  # no ?pgbouncer=
    return urlunparse(maintenance), parsed.path.lstrip("/")


def create_database_if_missing(url: str) -> bool:
    """Create the database `url` names unless it exists; True when it was created."""
    maintenance, name = _maintenance_url(url)
    with psycopg.connect(maintenance, autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return True


def drop_database(url: str) -> None:
    maintenance, name = _maintenance_url(url)
    with psycopg.connect(maintenance, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def terminate_connections(url: str) -> int:
    """Kill every server process connected to the database `url` names, as a database
    restart or a network failure would; returns how many."""
    maintenance, name = _maintenance_url(url)
    with psycopg.connect(maintenance, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()", (name,)).fetchall()
    return len(rows)
