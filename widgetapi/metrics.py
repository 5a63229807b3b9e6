"""Metrics for Prometheus (prometheus_client): requests by route template, method and status,
a request duration histogram, logins by outcome, database connections in use. Served at
`GET /metrics` when METRICS_ENABLED=true.

Under gunicorn every worker is a process with its own counters: prometheus_client's
multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set up by `widgetapi.gunicorn_conf`) has each
one write them to files there, and /metrics adds the files up, whichever worker answers.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

import falcon
import peewee

from widgetapi.db import connections_in_use as db_connections_in_use
from widgetapi.logs import NO_ROUTE

if TYPE_CHECKING:
    from prometheus_client import Counter, Histogram

LOGIN_OUTCOMES = ("ok", "failed", "throttled")


class _Instruments:
    """The process's metrics, made once, by the first app that serves them: prometheus_client
    is imported then, and never by a server that does not serve metrics."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.requests = Counter("widgetapi_http_requests",
                                "HTTP requests answered, by route template, method and status",
                                ("route", "method", "status"))
        self.duration = Histogram("widgetapi_http_request_duration_seconds",
                                  "Time from a request's arrival to its response, by route template",
                                  ("route",))
        self.logins = Counter("widgetapi_logins", "Login attempts, by outcome", ("outcome",))
        self.pool_in_use = Gauge("widgetapi_database_connections_in_use",
                                 "Database connections lent to requests right now",
                                 multiprocess_mode="livesum")
        for outcome in LOGIN_OUTCOMES:  # every outcome shows, at 0 until it happens
            self.logins.labels(outcome)


_instruments: _Instruments | None = None


def instruments() -> _Instruments:
    global _instruments
    if _instruments is None:
        _instruments = _Instruments()
    return _instruments


# Methods get their own label; anything else a client sends counts as OTHER, so no client
# can make up new series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def login(outcome: str) -> None:
    """Count a login attempt: `ok`, `failed` (wrong email or password) or `throttled`
    (when this process serves metrics)."""
    if _instruments is not None:
        _instruments.logins.labels(outcome).inc()


def connections_in_use(db: peewee.Database) -> int:
    return db_connections_in_use(db)


class Metrics:
    """Falcon middleware, the hot path: per request one set and one dictionary lookup for the label
    children (made once per route, method and status), a counter increment, a histogram
    observation and a gauge update."""

    def __init__(self, db: peewee.Database) -> None:
        self._db = db
        self._metrics = instruments()
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
                key, (self._metrics.requests.labels(route, method, str(resp.status_code)),
                      self._metrics.duration.labels(route)))
        children[0].inc()
        children[1].observe(elapsed)
        # After the connection middleware has given this request's connection back.
        self._metrics.pool_in_use.set(connections_in_use(self._db))


class MetricsEndpoint:
    """`GET /metrics`: Prometheus's text format, of this process or of all of gunicorn's."""

    auth_required = False

    def __init__(self, db: peewee.Database, directory: str | None) -> None:
        self._db = db
        self._directory = directory
        self._metrics = instruments()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        from prometheus_client import (
            CONTENT_TYPE_LATEST,
            REGISTRY,
            CollectorRegistry,
            generate_latest,
            multiprocess,
        )

        self._metrics.pool_in_use.set(connections_in_use(self._db))
        registry = REGISTRY
        if self._directory:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=self._directory)
        resp.content_type = CONTENT_TYPE_LATEST
        resp.data = generate_latest(registry)

    on_head = on_get
