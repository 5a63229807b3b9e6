"""The WSGI entry point for servers: `widgetapi.wsgi:app` (waitress-serve, gunicorn, ...).

Importing it prepares the database as `widgetapi serve` does (creates missing tables, brings
older ones up to date; safe when several workers start at once). A configuration the server
cannot run with, or a database it cannot use, is one line on stderr and exit status 2; in a
gunicorn worker (plain `gunicorn widgetapi.wsgi:app`, without widgetapi's settings that load
the app before forking) status 3, gunicorn's "worker failed to boot", on which gunicorn stops
instead of starting new workers that fail the same way forever.
"""
from __future__ import annotations

import sys
from types import FrameType

import falcon

from widgetapi import operations
from widgetapi.app import create_app
from widgetapi.config import Config
from widgetapi.db import close_database

GUNICORN_WORKER_BOOT_ERROR = 3  # gunicorn.arbiter.Arbiter.WORKER_BOOT_ERROR


def _in_gunicorn_worker() -> bool:
    """Whether a gunicorn worker is loading the app (gunicorn's master loads it itself
    with preload_app, and then exits with our status)."""
    workers = sys.modules.get("gunicorn.workers.base")
    frame: FrameType | None = sys._getframe()
    while workers is not None and frame is not None:
        if isinstance(frame.f_locals.get("self"), workers.Worker):
            return True
        frame = frame.f_back
    return False


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
        raise SystemExit(GUNICORN_WORKER_BOOT_ERROR if _in_gunicorn_worker() else 2) from None
    # Loaded before gunicorn forks its workers (preload): no connection may be shared.
    close_database()
    return application


app = prepared_app()
