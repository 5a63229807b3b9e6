"""widgetapi: a JWT-authenticated REST API for widgets."""
import contextlib
import sys
from collections.abc import Iterator
from importlib import metadata


@contextlib.contextmanager
def postgresql_drivers_hidden() -> Iterator[None]:
    """Peewee and some of playhouse import psycopg (and psycopg2) when they are imported,
    whatever the database: a tenth of a second and megabytes that SQLite never uses. They
    are imported inside this block, where importing a driver not loaded yet fails (they
    then do without); widgetapi.postgresql hands psycopg to Peewee when PostgreSQL is used."""
    hidden = [name for name in ("psycopg", "psycopg2") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # `import name` fails
    try:
        yield
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


with postgresql_drivers_hidden():
    import peewee  # noqa: F401

try:
    __version__ = metadata.version("widgetapi")
except metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
