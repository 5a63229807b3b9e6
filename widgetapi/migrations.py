"""Schema changes after the first release, applied in order by `widgetapi init-db`.

Each migration looks at the live schema and does nothing when its change is already
there, so running them again, or on a database created by today's models, is harmless.
A new schema change goes at the end of MIGRATIONS; it must keep existing data.
"""
from __future__ import annotations

from collections.abc import Callable

import peewee
from playhouse import migrate

Migration = Callable[[peewee.Database, migrate.SchemaMigrator], None]


def _columns(db: peewee.Database, table: str) -> set[str]:
    return {column.name for column in db.get_columns(table)}


def add_users_tokens_valid_after(db: peewee.Database, migrator: migrate.SchemaMigrator) -> None:
    """Logout everywhere (users.tokens_valid_after, empty for every existing user)."""
    if "tokens_valid_after" not in _columns(db, "users"):
        migrate.migrate(migrator.add_column("users", "tokens_valid_after", peewee.DateTimeField(null=True)))


MIGRATIONS: tuple[Migration, ...] = (add_users_tokens_valid_after,)


def apply_migrations(db: peewee.Database) -> None:
    """Bring tables made by an earlier version up to date, keeping their rows."""
    migrator = migrate.SchemaMigrator.from_database(db)
    for migration in MIGRATIONS:
        migration(db, migrator)
