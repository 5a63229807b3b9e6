"""Login and registration throttling (widgetapi/throttle.py), with the real limits: the
suite's own `config` is generous, these tests are not."""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

import falcon
import pytest
import webtest
from conftest import PASSWORD, SECRET_KEY, bearer, register
from servers import Reply, race, request, server_process, widgetapi_serve

from widgetapi import cli, passwords, throttle
from widgetapi.app import create_app
from widgetapi.config import Config
from widgetapi.db import database
from widgetapi.purge import OpportunisticPurge
from widgetapi.throttle_counts import AuthRequests, LoginFailures
from widgetapi.timeutil import utcnow

LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"
ALICE = "alice@example.com"
HERE = {"REMOTE_ADDR": "203.0.113.7"}
ELSEWHERE = {"REMOTE_ADDR": "198.51.100.9"}


def fresh_minute(needed: float = 20) -> None:
    """Wait for a new minute when fewer than `needed` seconds of this one are left, so that a
    test's requests to real servers are counted in one minute (the per-address count is per
    minute; in this process, `throttle_clock` stops the throttle's clock instead)."""
    left = 60 - time.time() % 60
    if left < needed:
        time.sleep(left + 0.1)


@pytest.fixture
def strict_config(config: Config) -> Config:
    return replace(config, login_max_failures=5, auth_rate_per_minute=30)


@pytest.fixture
def strict(app: falcon.App, strict_config: Config, throttle_clock: datetime) -> webtest.TestApp:
    """The app with the contract's default limits (the tables come from `app`), its
    throttle's clock stopped."""
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
            throttle.reserve_password_check(strict_config, ALICE, "203.0.113.7", now=moment)
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
            throttle.reserve_password_check(strict_config, ALICE, "203.0.113.7", now=start)
        later = start + throttle.FAILURE_MEMORY + timedelta(minutes=1)
        throttle.reserve_password_check(strict_config, ALICE, "203.0.113.7", now=later)
        throttle.check_lockout(ALICE, "203.0.113.7", now=later)  # a first failure again
        assert LoginFailures.get(LoginFailures.email == ALICE).failures == 1


def test_concurrent_reservations_let_five_through_and_lock_out_the_rest(
        app: falcon.App, strict_config: Config) -> None:
    racers = 12

    def attempt() -> Reply:
        with database.connection_context():
            try:
                throttle.reserve_password_check(strict_config, ALICE, "203.0.113.7")
            except throttle.TooManyAttempts:
                return Reply(429, "refused")
        return Reply(200, "reserved")

    replies = race([attempt] * racers)
    assert Counter(reply.status for reply in replies) == {200: 5, 429: racers - 5}, replies
    with database.connection_context():
        row = LoginFailures.get(LoginFailures.email == ALICE)
        assert row.failures == 5 and row.locked_until is not None and row.locked_until > utcnow()


def test_a_success_lifts_the_lock_its_own_reservation_set(strict: webtest.TestApp) -> None:
    register(strict, ALICE)
    for _ in range(4):
        log_in(strict, "wrong password", 401)
    log_in(strict, PASSWORD, 200)  # the fifth attempt: locks while it runs, then unlocks
    log_in(strict, PASSWORD, 200)


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
        throttle.reserve_password_check(strict_config, "old@example.com", "203.0.113.7", now=old)
        throttle.reserve_password_check(strict_config, ALICE, "203.0.113.7", now=now)
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
        throttle.reserve_password_check(strict_config, "old@example.com", "203.0.113.7", now=old)
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


def v6(interface: str, network: str = "2001:db8:1:2") -> dict[str, str]:
    return {"REMOTE_ADDR": f"{network}:{interface}"}


def test_ipv6_addresses_of_one_64_network_share_a_lockout(strict: webtest.TestApp) -> None:
    """An IPv6 client holds a whole /64 (2^64 addresses): counting each address apart would
    give it unlimited guesses at one account, a fresh address for every one."""
    register(strict, ALICE)
    for host in range(1, 6):
        log_in(strict, "wrong password", 401, environ=v6(f"0:0:0:{host}"))
    assert_throttled(log_in(strict, PASSWORD, 429, environ=v6("ffff:ffff:ffff:ffff")), 60)
    assert_throttled(log_in(strict, PASSWORD, 429, environ=v6("1", "2001:0db8:0001:0002:0:0:0")), 60)
    # another /64 is another client
    log_in(strict, PASSWORD, 200, environ=v6("0:0:0:1", "2001:db8:1:3"))


def test_ipv6_addresses_of_one_64_network_share_the_rate(strict: webtest.TestApp) -> None:
    for number in range(30):
        log_in(strict, "wrong password", 401, email=f"user{number}@example.com",
               environ=v6(f"{number + 1:x}::1"))
    assert_throttled(log_in(strict, PASSWORD, 429, environ=v6("abcd::1")), 60)
    log_in(strict, "wrong password", 401, environ=v6("abcd::1", "2001:db8:1:3"))


def test_an_ipv4_mapped_ipv6_address_is_its_ipv4_address(strict: webtest.TestApp) -> None:
    register(strict, ALICE)
    for _ in range(5):
        log_in(strict, "wrong password", 401, environ={"REMOTE_ADDR": "::ffff:203.0.113.7"})
    assert_throttled(log_in(strict, PASSWORD, 429), 60)  # HERE: 203.0.113.7
    # and an IPv4 address is itself, not a network: its neighbour is another client
    log_in(strict, PASSWORD, 200, environ={"REMOTE_ADDR": "203.0.113.8"})


@pytest.mark.parametrize(("address", "key"), [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:a:b:c:d", "2001:db8:1:2::/64"),
    ("2001:0DB8:0001:0002::1", "2001:db8:1:2::/64"),
    ("fe80::1%eth0", "fe80::/64"),
    ("::ffff:203.0.113.7", "203.0.113.7"),
    ("unix:/run/widgetapi.sock", "unix:/run/widgetapi.sock"),
    ("x" * 300, "x" * throttle.MAX_ADDRESS),
])
def test_the_throttle_counts_an_ipv6_client_by_its_64_network(address: str, key: str) -> None:
    assert throttle.client_key(address) == key


@pytest.fixture
def two_strict_servers(app: falcon.App, config: Config, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two processes with the contract's lockout (5 failures) and room for every attempt in
    the per-address rate and the hashing bounds."""
    env = {"WIDGETAPI_ENV": "testing", "DATABASE_URL": config.database_url, "SECRET_KEY": SECRET_KEY,
           "LOGIN_MAX_FAILURES": "5", "AUTH_RATE_PER_MINUTE": "1000", "PASSWORD_HASH_CONCURRENCY": "4"}
    with server_process(widgetapi_serve, env, tmp_path) as one, \
            server_process(widgetapi_serve, env, tmp_path) as other:
        yield one.url, other.url


@pytest.mark.slow
def test_wrong_passwords_at_once_on_two_processes_get_five_checks_at_most(
        two_strict_servers: tuple[str, str]) -> None:
    """Attempts in flight count: however many arrive at once, at most LOGIN_MAX_FAILURES
    passwords are checked for one email and address; the others get 429 unchecked."""
    body = {"email": ALICE, "password": "wrong password"}
    checked = []
    for round_ in range(3):
        body["email"] = f"alice{round_}@example.com"
        replies = race([partial(request, two_strict_servers[i % 2], "POST", LOGIN, body) for i in range(29)])
        statuses = Counter(reply.status for reply in replies)
        assert set(statuses) <= {401, 429}, replies
        checked.append(statuses[401])
    print(f"passwords checked of 29 wrong ones at once, per round: {checked}")
    assert all(1 <= count <= 5 for count in checked), checked
    assert all(reply.headers["retry-after"] for reply in replies if reply.status == 429)


def test_account_deletion_counts_against_the_rate(strict: webtest.TestApp) -> None:
    headers = bearer(register(strict, ALICE))  # from another address
    for _ in range(30):
        strict.delete_json("/api/v1/auth/user", {}, headers=headers, status=400, extra_environ=HERE)
    response = strict.delete_json("/api/v1/auth/user", {"current_password": PASSWORD}, headers=headers,
                                  status=429, extra_environ=HERE)
    assert_throttled(response, 60)
    strict.get("/api/v1/auth/user", headers=headers, status=200)  # not deleted


def test_attempts_refused_for_busy_hashing_are_not_counted(strict: webtest.TestApp) -> None:
    """A 503 (every hashing slot busy) checked no password: it must not lock anyone out."""
    headers = bearer(register(strict, ALICE))
    change = {"current_password": "wrong password", "new_password": "a fine new passphrase"}
    passwords.limit_hashing(1, 0)  # one slot, taken below: every check is refused at once
    with passwords.hashing_slot():
        for _ in range(7):
            log_in(strict, "wrong password", 503)
        strict.post_json("/api/v1/auth/password", change, headers=headers, status=503, extra_environ=HERE)
    with database.connection_context():
        assert [row.failures for row in LoginFailures.select()] in ([], [0])
        assert LoginFailures.locked_until_for(ALICE, "203.0.113.7") is None
    log_in(strict, PASSWORD, 200)
