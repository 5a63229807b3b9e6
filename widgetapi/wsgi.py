"""The WSGI entry point for servers: `widgetapi.wsgi:app` (waitress-serve, gunicorn, ...).

Importing it prepares the database as `widgetapi serve` does (creates missing tables, brings
older ones up to date; safe when several workers start at once). A configuration the server
cannot run with, or a database it cannot use, is one line on stderr and exit status 2, which
the server reports as a worker that failed to boot.
"""
from __future__ import annotations

import sys

import falcon

from widgetapi import operations
from widgetapi.app import create_app
from widgetapi.config import Config
from widgetapi.db import close_database


def prepared_app() -> falcon.App:
    """The app on a prepared database, or SystemExit(2) after one line on stderr."""
    config = None
    try:
        config = Config.from_env()
        application = create_app(config)
        operations.init_db()
    except operations.OPERATOR_ERRORS as error:
        message = operations.explain(error, config.database_url if config else None)
        print(f"widgetapi: {message}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    # Loaded before gunicorn forks its workers (preload): no connection may be shared.
    close_database()
    return application


app = prepared_app()
