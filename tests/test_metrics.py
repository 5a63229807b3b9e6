"""Metrics for Prometheus (widgetapi/metrics.py): /metrics only when enabled; requests, durations,
logins and pool use counted; counts that add up over gunicorn's workers."""
from __future__ import annotations

import dataclasses
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import falcon
import pytest
import webtest
from conftest import PASSWORD, register
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families
from servers import gunicorn, request, server_process

from widgetapi.app import create_app
from widgetapi.config import Config

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of a scrape, by name and labels."""
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(scrape: Samples, name: str, **labels: str) -> float:
    return scrape.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def config(config: Config) -> Config:
    # No mail: the outbox sender that a first request starts would hold a pool connection of
    # its own now and then, which the pool gauge rightly counts and these tests do not expect.
    return dataclasses.replace(config, metrics_enabled=True, mail_url=None)


def scrape(testapp: webtest.TestApp) -> Samples:
    response = testapp.get("/metrics", status=200)
    assert response.content_type == "text/plain"
    return samples(response.text)


def test_metrics_are_off_unless_enabled(config: Config, app: falcon.App) -> None:
    testapp = webtest.TestApp(create_app(dataclasses.replace(config, metrics_enabled=False)))
    response = testapp.get("/metrics", status=404)
    assert response.json == {"status": "fail", "message": "Not Found"}


def test_requests_are_counted_by_route_template_method_and_status(testapp: webtest.TestApp,
                                                                   user_headers: dict[str, str]) -> None:
    before = scrape(testapp)
    for name in ("a", "b", "c"):
        testapp.get(f"/api/v1/widgets/{name}", headers=user_headers, status=404)
    testapp.head("/api/v1/health", status=200)
    testapp.get("/no/such/path", status=404)
    after = scrape(testapp)

    def delta(**labels: str) -> float:
        return (value(after, "widgetapi_http_requests_total", **labels)
                - value(before, "widgetapi_http_requests_total", **labels))

    assert delta(route="/api/v1/widgets/{name}", method="GET", status="404") == 3
    assert delta(route="/api/v1/health", method="HEAD", status="200") == 1
    assert delta(route="(no route)", method="GET", status="404") == 1
    count = "widgetapi_http_request_duration_seconds_count"
    route = "/api/v1/widgets/{name}"
    assert value(after, count, route=route) - value(before, count, route=route) == 3
    assert any(name == "widgetapi_http_request_duration_seconds_bucket" for name, _ in after)


@pytest.mark.filterwarnings("ignore:Unknown REQUEST_METHOD")
def test_made_up_methods_share_one_label(testapp: webtest.TestApp) -> None:
    before = scrape(testapp)
    for method in ("BREW", "WHEN", "FROBNICATE"):
        testapp.request("/api/v1/health", method=method, status="*")
    after = scrape(testapp)
    methods = {dict(labels)["method"] for name, labels in after if name == "widgetapi_http_requests_total"}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"}

    def others(scrape: Samples) -> float:
        return sum(count for (name, labels), count in scrape.items()
                   if name == "widgetapi_http_requests_total" and ("method", "OTHER") in labels)

    assert others(after) - others(before) == 3


def test_logins_are_counted_by_outcome(testapp: webtest.TestApp) -> None:
    register(testapp, "alice@example.com")
    before = scrape(testapp)
    testapp.post_json("/api/v1/auth/login", {"email": "alice@example.com", "password": PASSWORD}, status=200)
    for _ in range(2):
        testapp.post_json("/api/v1/auth/login", {"email": "alice@example.com", "password": "wrong password"},
                          status=401)
    testapp.post_json("/api/v1/auth/login", {"email": "nobody@example.com", "password": PASSWORD}, status=401)
    after = scrape(testapp)
    for outcome, expected in (("ok", 1), ("failed", 3), ("throttled", 0)):
        assert value(after, "widgetapi_logins_total", outcome=outcome) - \
            value(before, "widgetapi_logins_total", outcome=outcome) == expected
    assert ("widgetapi_logins_total", frozenset({("outcome", "throttled")})) in after  # there, at 0


def test_the_pool_in_use_is_reported(testapp: webtest.TestApp) -> None:
    after = scrape(testapp)
    # the scrape itself holds no connection; nothing else runs
    assert value(after, "widgetapi_database_connections_in_use") == 0
    assert ("widgetapi_database_connections_in_use", frozenset()) in after


def test_head_metrics(testapp: webtest.TestApp) -> None:
    response = testapp.head("/metrics", status=200)
    assert response.body == b""


@pytest.fixture
def gunicorn_with_metrics(app: falcon.App, config: Config, tmp_path: Path) -> Iterator[str]:
    env = {"WIDGETAPI_ENV": "testing", "DATABASE_URL": config.database_url, "SECRET_KEY": "x" * 40,
           "METRICS_ENABLED": "true", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    with server_process(lambda port: gunicorn(port, workers=2), env, tmp_path) as server:
        yield server.url


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 -- our own test server
        return response.read().decode()


def workers_that_counted(directory: Path) -> int:
    """How many processes' counter files hold a count of GET /api/v1."""
    counted = 0
    for path in directory.glob("counter_*.db"):
        for key, count, *_ in MmapedDict.read_all_values_from_file(str(path)):
            if '"/api/v1"' in key and count:
                counted += 1
                break
    return counted


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="gunicorn runs on Unix only")
def test_counts_add_up_across_gunicorn_workers(gunicorn_with_metrics: str, tmp_path: Path) -> None:
    url = gunicorn_with_metrics
    sent = 0
    # fresh connections until both workers have answered some (each counts in its own file)
    deadline = time.monotonic() + 60
    while sent < 20 or workers_that_counted(tmp_path / "metrics") < 2:
        assert time.monotonic() < deadline, "one worker answered every request"
        assert request(url, "GET", "/api/v1").status == 200
        sent += 1
    # whichever worker answers the scrape, it counts every worker's requests
    totals = [value(samples(fetch(f"{url}/metrics")), "widgetapi_http_requests_total",
                    route="/api/v1", method="GET", status="200") for _ in range(4)]
    assert totals == [sent] * 4


@pytest.mark.parametrize("limit", ["login_max_failures", "auth_rate_per_minute"])
def test_throttled_logins_are_counted(app: falcon.App, config: Config, throttle_clock: object,
                                      limit: str) -> None:
    limits: dict[str, Any] = {limit: 2}
    testapp = webtest.TestApp(create_app(dataclasses.replace(config, **limits)))
    before = scrape(testapp)
    wrong = {"email": "alice@example.com", "password": "wrong password"}
    statuses = [testapp.post_json("/api/v1/auth/login", wrong, status="*").status_int for _ in range(4)]
    after = scrape(testapp)
    assert statuses == [401, 401, 429, 429]

    def delta(outcome: str) -> float:
        return (value(after, "widgetapi_logins_total", outcome=outcome)
                - value(before, "widgetapi_logins_total", outcome=outcome))

    assert (delta("failed"), delta("throttled"), delta("ok")) == (2, 2, 0)
