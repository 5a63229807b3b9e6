"""Metrics for Prometheus (prometheus_client): requests by route template, method and status,
a request duration histogram, logins by outcome, database connections in use. Served at
`GET /metrics` when METRICS_ENABLED=true.

Under gunicorn every worker is a process with its own counters: prometheus_client's
multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set up by `widgetapi.gunicorn_conf`) has each
one write them to files there, and /metrics adds the files up, whichever worker answers.
"""
from __future__ import annotations

import time

import falcon
import peewee
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from widgetapi.db import connections_in_use as db_connections_in_use
from widgetapi.logs import NO_ROUTE

REQUESTS = Counter("widgetapi_http_requests", "HTTP requests answered, by route template, method and status",
                   ("route", "method", "status"))
DURATION = Histogram("widgetapi_http_request_duration_seconds",
                     "Time from a request's arrival to its response, by route template", ("route",))
LOGINS = Counter("widgetapi_logins", "Login attempts, by outcome", ("outcome",))
POOL_IN_USE = Gauge("widgetapi_database_connections_in_use",
                    "Database connections lent to requests right now", multiprocess_mode="livesum")

LOGIN_OUTCOMES = ("ok", "failed", "throttled")
for _outcome in LOGIN_OUTCOMES:  # every outcome shows, at 0 until it happens
    LOGINS.labels(_outcome)

# Methods get their own label; anything else a client sends counts as OTHER, so no client
# can make up new series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def login(outcome: str) -> None:
    """Count a login attempt: `ok`, `failed` (wrong email or password) or `throttled`."""
    LOGINS.labels(outcome).inc()


def connections_in_use(db: peewee.Database) -> int:
    return db_connections_in_use(db)


class Metrics:
    """Falcon middleware, the hot path: per request one set and one dictionary lookup for the label
    children (made once per route, method and status), a counter increment, a histogram
    observation and a gauge update."""

    def __init__(self, db: peewee.Database) -> None:
        self._db = db
        self._children: dict[tuple[str | None, str, int], tuple[Counter, Histogram]] = {}

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.metrics_started = time.perf_counter()

    def process_response(self, req: falcon.Request, resp: falcon.Response,
                         resource: object, req_succeeded: bool) -> None:
        elapsed = time.perf_counter() - req.context.metrics_started
        method = req.method if req.method in METHODS else "OTHER"
        key = (req.uri_template, method, resp.status_code)
        children = self._children.get(key)
        if children is None:
            route = req.uri_template or NO_ROUTE
            children = self._children.setdefault(
                key, (REQUESTS.labels(route, method, str(resp.status_code)), DURATION.labels(route)))
        children[0].inc()
        children[1].observe(elapsed)
        # After the connection middleware has given this request's connection back.
        POOL_IN_USE.set(connections_in_use(self._db))


class MetricsEndpoint:
    """`GET /metrics`: Prometheus's text format, of this process or of all of gunicorn's."""

    auth_required = False

    def __init__(self, db: peewee.Database, directory: str | None) -> None:
        self._db = db
        self._directory = directory

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        POOL_IN_USE.set(connections_in_use(self._db))
        registry = REGISTRY
        if self._directory:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=self._directory)
        resp.content_type = CONTENT_TYPE_LATEST
        resp.data = generate_latest(registry)

    on_head = on_get
