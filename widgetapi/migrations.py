"""Schema changes after the first release, applied in order by `widgetapi init-db`.

Each migration looks at the live schema and does nothing when its change is already
there, so running them again, or on a database created by today's models, is harmless.
A new schema change goes at the end of MIGRATIONS; it must keep existing data.
"""
from __future__ import annotations

from collections.abc import Callable

import peewee

from widgetapi import postgresql_drivers_hidden

with postgresql_drivers_hidden():
    from playhouse import migrate

from widgetapi.models import User

Migration = Callable[[peewee.Database, migrate.SchemaMigrator], None]


def _columns(db: peewee.Database, table: str) -> set[str]:
    return {column.name for column in db.get_columns(table)}


def add_users_tokens_valid_after(db: peewee.Database, migrator: migrate.SchemaMigrator) -> None:
    """Logout everywhere (users.tokens_valid_after, empty for every existing user)."""
    if "tokens_valid_after" not in _columns(db, "users"):
        migrate.migrate(migrator.add_column("users", "tokens_valid_after", peewee.DateTimeField(null=True)))


def add_users_disabled(db: peewee.Database, migrator: migrate.SchemaMigrator) -> None:
    """Disabled accounts (users.disabled, false for every existing user). Added NOT NULL with
    a database default in one statement: SQLite would otherwise rebuild `users`, which rows
    of other tables reference."""
    if "disabled" not in _columns(db, "users"):
        disabled = peewee.BooleanField(default=False, constraints=[peewee.SQL("DEFAULT FALSE")])
        migrate.migrate(migrator.add_column("users", "disabled", disabled, allow_not_null=True))


def make_widgets_owner_nullable(db: peewee.Database, migrator: migrate.SchemaMigrator) -> None:
    """Widgets outlive their owner's account: widgets.owner_id becomes NULL-able with ON DELETE
    SET NULL. SQLite cannot alter a foreign key, so the column is replaced: a new one with
    the new constraint, the owners copied into it, the old one dropped (SQLite rebuilds the
    table to drop a column in a foreign key), the new one renamed."""
    owner = next((c for c in db.get_columns("widgets") if c.name == "owner_id"), None)
    if owner is None or owner.null:
        return
    column = peewee.ForeignKeyField(User, field=User.id, null=True, on_delete="SET NULL")
    drop: dict[str, bool] = {"legacy": True} if isinstance(migrator, migrate.SqliteMigrator) else {}
    for index in db.get_indexes("widgets"):
        if index.columns == ["owner_id"]:
            migrate.migrate(migrator.drop_index("widgets", index.name))
    migrate.migrate(migrator.add_column("widgets", "owner_id_new", column))
    db.execute_sql('UPDATE "widgets" SET "owner_id_new" = "owner_id"')
    migrate.migrate(migrator.drop_column("widgets", "owner_id", **drop))
    migrate.migrate(migrator.rename_column("widgets", "owner_id_new", "owner_id"))
    db.execute_sql('CREATE INDEX IF NOT EXISTS "widget_owner_id" ON "widgets" ("owner_id")')


def drop_revoked_tokens(db: peewee.Database, migrator: migrate.SchemaMigrator) -> None:
    """The blacklist gave way to sessions (an allow-list): tokens issued before the upgrade
    have no session and are refused, so the blacklist holds nothing that still matters."""
    db.execute_sql('DROP TABLE IF EXISTS "revoked_tokens"')


def add_widgets_version(db: peewee.Database, migrator: migrate.SchemaMigrator) -> None:
    """Conditional requests (widgets.version, 1 for every existing widget): NOT NULL with a
    database default in one statement, which SQLite adds without rebuilding the table."""
    if "version" not in _columns(db, "widgets"):
        version = peewee.IntegerField(default=1, constraints=[peewee.SQL("DEFAULT 1")])
        migrate.migrate(migrator.add_column("widgets", "version", version, allow_not_null=True))


def add_token_generations(db: peewee.Database, migrator: migrate.SchemaMigrator) -> None:
    """Revocation without races (users.token_generation, sessions.generation): 0 for every
    existing row, so the sessions there stay valid. NOT NULL with a database default in one
    statement, as add_users_disabled."""
    for table, column in (("users", "token_generation"), ("sessions", "generation")):
        if column not in _columns(db, table):
            field = peewee.IntegerField(default=0, constraints=[peewee.SQL("DEFAULT 0")])
            migrate.migrate(migrator.add_column(table, column, field, allow_not_null=True))


MIGRATIONS: tuple[Migration, ...] = (add_users_tokens_valid_after, add_users_disabled,
                                     make_widgets_owner_nullable, drop_revoked_tokens,
                                     add_widgets_version, add_token_generations)


def apply_migrations(db: peewee.Database) -> None:
    """Bring tables made by an earlier version up to date, keeping their rows."""
    migrator = migrate.SchemaMigrator.from_database(db)
    for migration in MIGRATIONS:
        migration(db, migrator)
