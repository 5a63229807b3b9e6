"""bcrypt hashing, and that a login costs the same bcrypt work whether or not the email exists."""
from __future__ import annotations

import threading
import time
from dataclasses import replace

import bcrypt
import pytest
from conftest import PASSWORD, login, register
from servers import race, request, threaded_server

from widgetapi import passwords
from widgetapi.app import create_app
from widgetapi.config import Config
from widgetapi.db import database
from widgetapi.models import User
from widgetapi.passwords import (
    HashingLimiter,
    PasswordHashingBusy,
    check_password,
    hash_password,
    needs_rehash,
)


def test_hash_uses_the_configured_cost_and_checks():
    hashed = hash_password("s3cret-password", rounds=5)
    assert hashed.startswith("$2b$05$")
    assert check_password("s3cret-password", hashed, rounds=5)
    assert not check_password("s3cret-passwore", hashed, rounds=5)


def test_a_password_bcrypt_cannot_take_is_a_mismatch_not_an_error():
    hashed = hash_password("x" * 72, rounds=4)
    assert not check_password("x" * 73, hashed, rounds=4)
    assert not check_password("é" * 40, hashed, rounds=4)  # 80 bytes


@pytest.fixture
def bcrypt_checks(monkeypatch):
    """Records the cost of every hash bcrypt.checkpw verifies, still doing the real work."""
    costs: list[int] = []
    real_checkpw = bcrypt.checkpw

    def recording_checkpw(password: bytes, hashed: bytes) -> bool:
        costs.append(int(hashed.split(b"$")[2]))
        return real_checkpw(password, hashed)

    monkeypatch.setattr(passwords.bcrypt, "checkpw", recording_checkpw)
    return costs


@pytest.mark.parametrize("email, password", [
    ("someone@example.com", PASSWORD),             # known email, right password
    ("someone@example.com", "wrong password"),     # known email, wrong password
    ("nobody@example.com", PASSWORD),              # unknown email
    ("someone@example.com", "é" * 40),             # too long for bcrypt
    ("nobody@example.com", "é" * 40),
])
def test_every_login_does_one_bcrypt_check_at_the_configured_cost(testapp, config, bcrypt_checks,
                                                                  email, password):
    register(testapp, "someone@example.com")
    testapp.post_json("/api/v1/auth/login", {"email": email, "password": password}, status="*")
    assert bcrypt_checks == [config.bcrypt_log_rounds]


# re-hash at login


def stored_hash(email: str) -> str:
    with database.connection_context():
        return User.by_email(email).password_hash  # type: ignore[union-attr]


@pytest.mark.parametrize("other_cost", [5, 6])
def test_an_account_with_another_cost_is_rehashed_at_its_next_login(testapp, config, other_cost):
    with database.connection_context():
        User.create(email="old@example.com", password_hash=hash_password(PASSWORD, other_cost))
    testapp.post_json("/api/v1/auth/login", {"email": "old@example.com", "password": "wrong password"},
                      status=401)
    assert stored_hash("old@example.com").startswith(f"$2b$0{other_cost}$")  # not on a failure

    login(testapp, "old@example.com")
    rehashed = stored_hash("old@example.com")
    assert rehashed.startswith(f"$2b$0{config.bcrypt_log_rounds}$")
    assert bcrypt.checkpw(PASSWORD.encode(), rehashed.encode())
    login(testapp, "old@example.com")
    assert stored_hash("old@example.com") == rehashed  # the same cost now: left alone


def test_needs_rehash() -> None:
    assert not needs_rehash(hash_password("x" * 8, 4), 4)
    assert needs_rehash(hash_password("x" * 8, 5), 4)
    assert needs_rehash("not a bcrypt hash", 4)


# bounded hashing


def hold_slot(limiter: HashingLimiter, entered: threading.Event, release: threading.Event,
              outcome: list[str]) -> threading.Thread:
    def run() -> None:
        try:
            with limiter.slot():
                entered.set()
                release.wait(timeout=30)
            outcome.append("ran")
        except PasswordHashingBusy:
            outcome.append("busy")

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_the_limiter_runs_n_queues_n_and_refuses_the_rest() -> None:
    limiter = HashingLimiter(1, 1, wait_seconds=30)
    release = threading.Event()
    first, second = threading.Event(), threading.Event()
    outcomes: list[str] = []
    holder = hold_slot(limiter, first, release, outcomes)
    assert first.wait(timeout=30)
    waiter = hold_slot(limiter, second, release, outcomes)
    while limiter._queue._value != 0:  # the waiter has taken the queue's one place
        time.sleep(0.01)

    with pytest.raises(PasswordHashingBusy), limiter.slot():  # one running, one waiting: no more
        pass
    release.set()
    holder.join(timeout=30)
    waiter.join(timeout=30)
    assert outcomes == ["ran", "ran"]
    with limiter.slot():  # all free again
        pass


def test_a_wait_past_its_limit_is_refused() -> None:
    limiter = HashingLimiter(1, 1, wait_seconds=0.2)
    entered, release = threading.Event(), threading.Event()
    outcomes: list[str] = []
    holder = hold_slot(limiter, entered, release, outcomes)
    assert entered.wait(timeout=30)
    with pytest.raises(PasswordHashingBusy), limiter.slot():
        pass
    release.set()
    holder.join(timeout=30)


def test_the_default_concurrency_is_half_the_threads() -> None:
    assert Config(database_pool_size=5).hash_concurrency == 2    # 4 threads
    assert Config(database_pool_size=9).hash_concurrency == 4    # 8 threads
    assert Config(database_pool_size=2).hash_concurrency == 1    # 1 thread
    assert Config(database_pool_size=9, password_hash_concurrency=3).hash_concurrency == 3


def test_waiting_logins_never_take_the_half_of_the_threads_reads_keep() -> None:
    """A waiting login holds a server thread: hashing and waiting together stay within half."""
    assert Config(database_pool_size=5).hash_waiting == 0                                # 2 hash
    assert Config(database_pool_size=9, password_hash_concurrency=1).hash_waiting == 1   # 1 + 1 of 4
    assert Config(database_pool_size=9, password_hash_concurrency=3).hash_waiting == 1   # 3 + 1 of 4
    assert Config(database_pool_size=17, password_hash_concurrency=2).hash_waiting == 2  # at most as many
    assert Config(database_pool_size=5, password_hash_concurrency=4).hash_waiting == 0


HIGH_COST = 15  # a hash takes seconds here: long enough for every racer to arrive meanwhile


def test_logins_beyond_the_slots_and_queue_get_503_while_reads_go_on(app, config) -> None:
    """PASSWORD_HASH_CONCURRENCY=1 on a real server with 8 threads: one login hashes, one
    waits, the others are refused at once with 503 + Retry-After; a read is served."""
    costly = create_app(replace(config, bcrypt_log_rounds=HIGH_COST, password_hash_concurrency=1))
    passwords._dummy_hash(HIGH_COST)  # made once per process: not part of the race
    body = {"email": "nobody@example.com", "password": "wrong password"}
    with threaded_server(costly, threads=8) as url:
        attempts = [lambda: request(url, "POST", "/api/v1/auth/login", body) for _ in range(6)]
        replies = race([*attempts, lambda: request(url, "GET", "/api/v1/openapi.json")])
    logins, read = replies[:-1], replies[-1]
    assert read.status == 200
    refused = [reply for reply in logins if reply.status == 503]
    assert len(refused) in (4, 5), [reply.status for reply in logins]  # 5: the waiter gave up
    assert all(reply.status == 401 for reply in logins if reply.status != 503)
    for reply in refused:
        assert reply.body == {"status": "error", "message": "Service unavailable"}
        assert int(reply.headers["retry-after"]) >= 1
