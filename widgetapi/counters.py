"""Row counts kept by the database itself, for an exact and cheap Total-Count.

Counting a table on every page read costs time in proportion to its rows. Instead, triggers
add to and subtract from a row of `counters` (models.Counter) in the same transaction as
every insert and delete, whoever makes it (the API, the CLI, a script, psql), and on
PostgreSQL every TRUNCATE: the count is exact when the change commits and never otherwise.
PostgreSQL's triggers run once per statement, whatever its number of rows; SQLite's run once
per row, in process. Writers of one table wait for each other on its counter row until they
commit: writes here are rare.

`install` runs in `init-db`, after the migrations (rebuilding a table on SQLite drops its
triggers): when a trigger is missing or a count is wrong (something bypassed the triggers),
it (re)creates the triggers and sets each count from its table, in one transaction that
holds off writers; else it writes nothing.
"""
from __future__ import annotations

import peewee

from widgetapi import models
from widgetapi.models import Counter

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION widgetapi_count_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE counters SET value = value + (SELECT count(*) FROM changed) WHERE name = TG_TABLE_NAME;
    ELSIF TG_OP = 'TRUNCATE' THEN
        UPDATE counters SET value = 0 WHERE name = TG_TABLE_NAME;
    ELSE
        UPDATE counters SET value = value - (SELECT count(*) FROM changed) WHERE name = TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END $$"""

PG_TRIGGERS = [
    'DROP TRIGGER IF EXISTS "{table}_counted_{name}" ON "{table}"',
    'CREATE TRIGGER "{table}_counted_{name}" AFTER {event} ON "{table}" '
    'REFERENCING {rows} TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION widgetapi_count_rows()',
]

SQLITE_TRIGGER = (
    'CREATE TRIGGER IF NOT EXISTS "{table}_counted_{name}" AFTER {event} ON "{table}" '
    "BEGIN UPDATE counters SET value = value {sign} 1 WHERE name = '{table}'; END")

EVENTS = {"insert": ("NEW", "+"), "delete": ("OLD", "-")}
PG_TRUNCATE = [
    'DROP TRIGGER IF EXISTS "{table}_counted_truncate" ON "{table}"',
    'CREATE TRIGGER "{table}_counted_truncate" AFTER TRUNCATE ON "{table}" '
    'FOR EACH STATEMENT EXECUTE FUNCTION widgetapi_count_rows()',
]


def install(db: peewee.Database) -> None:
    """Create the counting triggers and set the counts, unless every trigger is there and
    every count right (then it writes nothing: a read-only database still starts); call
    inside init-db's transaction."""
    postgresql = isinstance(db, peewee.PostgresqlDatabase)
    tables = [model._meta.table_name for model in models.COUNTED]
    wanted = {f"{table}_counted_{event}" for table in tables
              for event in [*EVENTS, *(["truncate"] if postgresql else [])]}
    counts = {counter.name: counter.value for counter in Counter.select()}
    actual = {model._meta.table_name: model.select().count() for model in models.COUNTED}
    if wanted <= _triggers(db, postgresql) and all(counts.get(table) == actual[table] for table in tables):
        return
    if postgresql:
        db.execute_sql(PG_FUNCTION)
    for model in models.COUNTED:
        table = model._meta.table_name
        for event, (rows, sign) in EVENTS.items():
            statements = PG_TRIGGERS if postgresql else [SQLITE_TRIGGER]
            for statement in statements:
                db.execute_sql(statement.format(table=table, name=event, event=event.upper(),
                                                rows=rows, sign=sign))
        for statement in PG_TRUNCATE if postgresql else []:
            db.execute_sql(statement.format(table=table))
        # After the triggers: on PostgreSQL, creating them waited for open writes and holds
        # off new ones until commit; on SQLite this one statement takes the write lock.
        Counter.insert(name=table, value=0).on_conflict_ignore().execute()
        rows_now = model.select(peewee.fn.COUNT(peewee.SQL("*")))
        Counter.update(value=rows_now).where(Counter.name == table).execute()


def _triggers(db: peewee.Database, postgresql: bool) -> set[str]:
    query = ("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal" if postgresql
             else "SELECT name FROM sqlite_master WHERE type = 'trigger'")
    return {name for (name,) in db.execute_sql(query).fetchall()}
