"""Login and registration throttling (widgetapi/throttle.py), with the real limits: the
suite's own `config` is generous, these tests are not."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import falcon
import pytest
import webtest
from conftest import PASSWORD, SECRET_KEY, register
from servers import request, server_process, widgetapi_serve

from widgetapi import cli, throttle
from widgetapi.app import create_app
from widgetapi.config import Config
from widgetapi.db import database
from widgetapi.models import AuthRequests, LoginFailures
from widgetapi.purge import OpportunisticPurge
from widgetapi.timeutil import utcnow

LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"
ALICE = "alice@example.com"
HERE = {"REMOTE_ADDR": "203.0.113.7"}
ELSEWHERE = {"REMOTE_ADDR": "198.51.100.9"}


def fresh_minute() -> None:
    """Wait for a new minute when this one is nearly over, so that a test's requests are
    counted in one minute (the per-address count is per minute)."""
    left = 60 - time.time() % 60
    if left < 8:
        time.sleep(left + 0.1)


@pytest.fixture
def strict_config(config: Config) -> Config:
    return replace(config, login_max_failures=5, auth_rate_per_minute=30)


@pytest.fixture
def strict(app: falcon.App, strict_config: Config) -> webtest.TestApp:
    """The app with the contract's default limits (the tables come from `app`)."""
    fresh_minute()
    return webtest.TestApp(create_app(strict_config))


def log_in(testapp: webtest.TestApp, password: str, status: int | str, email: str = ALICE,
           environ: dict[str, str] = HERE) -> webtest.TestResponse:
    return testapp.post_json(LOGIN, {"email": email, "password": password}, status=status,
                             extra_environ=environ)


def assert_throttled(response: webtest.TestResponse, longest: int) -> int:
    seconds = int(response.headers["Retry-After"])
    assert 1 <= seconds <= longest
    message = f"Too many attempts. Try again in {seconds} seconds."
    assert response.json == {"status": "fail", "message": message}
    return seconds


def test_a_lockout_follows_the_fifth_failure_and_refuses_even_the_right_password(
        strict: webtest.TestApp) -> None:
    register(strict, ALICE)
    for _ in range(5):
        log_in(strict, "wrong password", 401)
    assert assert_throttled(log_in(strict, PASSWORD, 429), 60) > 50
    # another address is not locked out of the account
    log_in(strict, PASSWORD, 200, environ=ELSEWHERE)


def test_unknown_emails_are_locked_out_like_known_ones(strict: webtest.TestApp) -> None:
    for _ in range(5):
        log_in(strict, "wrong password", 401, email="nobody@example.com")
    assert_throttled(log_in(strict, "wrong password", 429, email="nobody@example.com"), 60)


def test_a_success_resets_the_failures(strict: webtest.TestApp) -> None:
    register(strict, ALICE)
    for _ in range(4):
        log_in(strict, "wrong password", 401)
    log_in(strict, PASSWORD, 200)
    for _ in range(4):
        log_in(strict, "wrong password", 401)
    log_in(strict, PASSWORD, 200)


def test_the_lockout_doubles_with_each_further_failure_up_to_15_minutes(
        app: falcon.App, strict_config: Config) -> None:
    start = utcnow()
    lockouts = []
    with database.connection_context():
        for failure in range(1, 12):
            moment = start + timedelta(minutes=20 * failure)  # each after the previous lockout
            throttle.record_failed_password_check(strict_config, ALICE, "203.0.113.7", now=moment)
            until = LoginFailures.locked_until_for(ALICE, "203.0.113.7")
            lockouts.append(int((until - moment).total_seconds()) if until and until > moment else 0)
        with pytest.raises(throttle.TooManyAttempts):
            throttle.check_lockout(ALICE, "203.0.113.7", now=moment + timedelta(minutes=14))
        throttle.check_lockout(ALICE, "203.0.113.7", now=moment + timedelta(minutes=15, seconds=1))
    assert lockouts == [0, 0, 0, 0, 60, 120, 240, 480, 900, 900, 900]


def test_failures_long_ago_are_forgotten(app: falcon.App, strict_config: Config) -> None:
    start = utcnow()
    with database.connection_context():
        for _ in range(4):
            throttle.record_failed_password_check(strict_config, ALICE, "203.0.113.7", now=start)
        later = start + throttle.FAILURE_MEMORY + timedelta(minutes=1)
        throttle.record_failed_password_check(strict_config, ALICE, "203.0.113.7", now=later)
        throttle.check_lockout(ALICE, "203.0.113.7", now=later)  # a first failure again


def test_concurrent_failures_are_all_counted(app: falcon.App, strict_config: Config) -> None:
    racers = 12
    barrier = threading.Barrier(racers)
    errors: list[BaseException] = []

    def fail() -> None:
        try:
            barrier.wait(timeout=30)
            with database.connection_context():
                throttle.record_failed_password_check(strict_config, ALICE, "203.0.113.7")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=fail) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    with database.connection_context():
        assert LoginFailures.get(LoginFailures.email == ALICE).failures == racers


def test_an_address_gets_auth_rate_per_minute_requests(strict: webtest.TestApp) -> None:
    for number in range(15):  # 15 registrations and 15 logins: the 30 allowed
        strict.post_json(REGISTER, {"email": f"user{number}@example.com", "password": PASSWORD},
                         status=201, extra_environ=HERE)
        log_in(strict, PASSWORD, 200, email=f"user{number}@example.com")
    assert_throttled(log_in(strict, PASSWORD, 429, email="user1@example.com"), 60)
    response = strict.post_json(REGISTER, {"email": "late@example.com", "password": PASSWORD}, status=429,
                                extra_environ=HERE)
    assert_throttled(response, 60)
    # other addresses are counted apart
    log_in(strict, PASSWORD, 200, email="user1@example.com", environ=ELSEWHERE)


def test_old_throttle_rows_are_purged(app: falcon.App, strict_config: Config, config: Config,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    now = utcnow()
    old = now - throttle.FAILURE_MEMORY - timedelta(minutes=5)
    with database.connection_context():
        throttle.record_failed_password_check(strict_config, "old@example.com", "203.0.113.7", now=old)
        throttle.record_failed_password_check(strict_config, ALICE, "203.0.113.7", now=now)
        throttle.check_rate(strict_config, "203.0.113.7", now=old)
        throttle.check_rate(strict_config, "203.0.113.7", now=now)
    monkeypatch.setenv("DATABASE_URL", config.database_url)
    assert cli.main(["purge-tokens"]) == 0
    with database.connection_context():
        assert [row.email for row in LoginFailures.select()] == [ALICE]
        assert AuthRequests.select().count() == 1


def test_the_background_purge_forgets_old_throttle_rows(app: falcon.App, strict_config: Config) -> None:
    old = utcnow() - throttle.FAILURE_MEMORY - timedelta(minutes=5)
    with database.connection_context():
        throttle.record_failed_password_check(strict_config, "old@example.com", "203.0.113.7", now=old)
        throttle.check_rate(strict_config, "203.0.113.7", now=old)
    purge = OpportunisticPurge(interval=0)
    purge.process_response(None, None, None, True)  # type: ignore[arg-type]
    purge.wait(timeout=30)
    with database.connection_context():
        assert LoginFailures.select().count() == 0
        assert AuthRequests.select().count() == 0


@pytest.fixture
def two_servers(app: falcon.App, config: Config, tmp_path: Path) -> Iterator[tuple[str, str]]:
    env = {"WIDGETAPI_ENV": "testing", "DATABASE_URL": config.database_url, "SECRET_KEY": SECRET_KEY,
           "LOGIN_MAX_FAILURES": "2", "AUTH_RATE_PER_MINUTE": "6"}
    with server_process(widgetapi_serve, env, tmp_path) as one, \
            server_process(widgetapi_serve, env, tmp_path) as other:
        yield one.url, other.url


@pytest.mark.slow
def test_two_processes_share_the_counts(two_servers: tuple[str, str]) -> None:
    """The lockout and the per-address count are the database's: what one process counted,
    the other enforces."""
    one, other = two_servers
    fresh_minute()

    def attempt(server: str, email: str, password: str, path: str = LOGIN) -> int:
        return request(server, "POST", path, {"email": email, "password": password}).status

    statuses = [
        attempt(one, "bob@example.com", PASSWORD, REGISTER),  # 1
        attempt(one, ALICE, "wrong password"),                # 2: Alice's first failure
        attempt(other, ALICE, "wrong password"),              # 3: her second, on the other process
        attempt(one, ALICE, "wrong password"),                # 4: locked out
        attempt(other, "bob@example.com", PASSWORD),          # 5
        attempt(one, "bob@example.com", PASSWORD),            # 6
        attempt(other, "bob@example.com", PASSWORD),          # 7: past 6 a minute from this address
    ]
    assert statuses == [201, 401, 401, 429, 200, 200, 429]
    reply = request(one, "POST", LOGIN, {"email": "bob@example.com", "password": PASSWORD})
    assert reply.status == 429
    assert reply.body["message"] == f"Too many attempts. Try again in {reply.headers['retry-after']} seconds."
