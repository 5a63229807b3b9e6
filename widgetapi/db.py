"""The database handle: opened from DATABASE_URL, one connection per request."""
from __future__ import annotations

from urllib.parse import urlparse

import falcon
import peewee
from playhouse import db_url

from widgetapi.config import ConfigError

database = peewee.DatabaseProxy()

# Per connection; WAL mode is a property of the file and is set once in open_database.
SQLITE_PRAGMAS = {"foreign_keys": 1, "synchronous": "normal"}
# sqlite3's own busy handler: a writer waits this long for another instead of failing
# with "database is locked".
SQLITE_BUSY_TIMEOUT_SECONDS = 30


def open_database(url: str) -> peewee.Database:
    """Open the database named by a URL and bind the models to it."""
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        db = db_url.connect(url, pragmas=SQLITE_PRAGMAS, timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
        if db.database != ":memory:":
            with db.connection_context():
                db.pragma("journal_mode", "wal")
    elif scheme in ("postgres", "postgresql"):
        db = db_url.connect(url)
    else:
        raise ConfigError(f"DATABASE_URL must start with sqlite:// or postgresql://, not {url!r}")
    database.initialize(db)
    return db


class ConnectionPerRequest:
    """Falcon middleware: Peewee connects on the first query; this closes that connection
    when the response is done, whether the responder succeeded or raised."""

    def __init__(self, db: peewee.Database) -> None:
        self._db = db

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        if not self._db.is_closed():
            self._db.close()
