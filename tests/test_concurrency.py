"""Real HTTP against real servers on a real database file: racing writers, and two
processes sharing one database."""
from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import falcon
import pytest
import webtest
from conftest import (
    GENEROUS_FAILURES,
    GENEROUS_RATE,
    GENEROUS_THROTTLE_ENV,
    PASSWORD,
    SECRET_KEY,
    bearer,
    login,
    register,
)
from servers import Reply, request, server_process, threaded_server, widgetapi_serve
from widget_helpers import widget_body

from widgetapi.config import Config

RACERS = 24
TOKEN_LIFETIME = 300  # long enough that no token here expires while a test runs


@pytest.fixture
def config(database_url: str) -> Config:
    return Config(env="testing", database_url=database_url, secret_key=SECRET_KEY,
                  token_expire_seconds=TOKEN_LIFETIME, bcrypt_log_rounds=4,
                  auth_rate_per_minute=GENEROUS_RATE, login_max_failures=GENEROUS_FAILURES,
                  # racing registrations race the database, not the bounded hashing
                  password_hash_concurrency=RACERS)


@pytest.fixture
def live_url(app: falcon.App) -> Iterator[str]:
    with threaded_server(app, threads=8) as url:
        yield url


def race(count: int, attempt: Callable[[], Reply]) -> list[int]:
    """Run `attempt` in `count` threads released at the same moment; their statuses."""
    barrier = threading.Barrier(count)
    statuses: list[int] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            barrier.wait(timeout=30)
            status = attempt().status
        except BaseException as error:  # reported by the test below
            with lock:
                failures.append(error)
            return
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    assert len(statuses) == count
    return statuses


def test_racing_creates_of_one_widget_name(live_url, admin_headers):
    body = widget_body("contested")
    statuses = race(RACERS, lambda: request(live_url, "POST", "/api/v1/widgets", body, admin_headers))
    assert Counter(statuses) == {201: 1, 409: RACERS - 1}
    listing = request(live_url, "GET", "/api/v1/widgets", headers=admin_headers)
    assert [item["name"] for item in listing.body["items"]] == ["contested"]


def test_racing_puts_creating_one_widget(live_url, admin_headers):
    """PUT on an absent widget from many clients at once: one creates it, the rest update it."""
    body = {"info_url": "https://example.com/p", "deadline": "2999-01-01"}
    statuses = race(RACERS, lambda: request(live_url, "PUT", "/api/v1/widgets/put-race", body, admin_headers))
    assert Counter(statuses) == {201: 1, 200: RACERS - 1}
    listing = request(live_url, "GET", "/api/v1/widgets", headers=admin_headers)
    assert listing.body["total_items"] == 1


def test_racing_registrations_of_one_email(live_url, testapp):
    body = {"email": "racer@example.com", "password": PASSWORD}
    statuses = race(RACERS, lambda: request(live_url, "POST", "/api/v1/auth/register", body))
    assert Counter(statuses) == {201: 1, 409: RACERS - 1}
    login(testapp, "racer@example.com")


def test_conflict_body_over_real_http(live_url, admin_headers):
    body = widget_body("once")
    assert request(live_url, "POST", "/api/v1/widgets", body, admin_headers).status == 201
    reply = request(live_url, "POST", "/api/v1/widgets", body, admin_headers)
    assert reply.status == 409
    assert reply.body == {"status": "fail", "message": "Widget name: once already exists, must be unique."}
    assert reply.headers["content-type"].startswith("application/json")


def test_two_processes_on_one_database_share_logouts(testapp: webtest.TestApp, database_url: str,
                                                     tmp_path: Path):
    env = {"WIDGETAPI_ENV": "testing", "DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY,
           "TOKEN_EXPIRE_SECONDS": str(TOKEN_LIFETIME), **GENEROUS_THROTTLE_ENV}
    register(testapp, "shared@example.com")
    credentials = {"email": "shared@example.com", "password": PASSWORD}
    with server_process(widgetapi_serve, env, tmp_path, cwd=tmp_path) as server:
        other = server.url

        def refused_by_both(token: str) -> None:
            reply = request(other, "GET", "/api/v1/auth/user", headers=bearer(token))
            assert (reply.status, reply.body["message"]) == (401, "Token blacklisted. Please log in again.")
            response = testapp.get("/api/v1/auth/user", headers=bearer(token), status=401)
            assert response.json["message"] == "Token blacklisted. Please log in again."

        # Logged in on the other process, logged out here.
        reply = request(other, "POST", "/api/v1/auth/login", credentials)
        assert reply.status == 200
        token = reply.body["access_token"]
        testapp.get("/api/v1/auth/user", headers=bearer(token), status=200)
        testapp.post("/api/v1/auth/logout", headers=bearer(token), status=200)
        refused_by_both(token)

        # Logged in here, logged out on the other process.
        token = login(testapp, "shared@example.com")
        assert request(other, "GET", "/api/v1/auth/user", headers=bearer(token)).status == 200
        assert request(other, "POST", "/api/v1/auth/logout", headers=bearer(token)).status == 200
        refused_by_both(token)
