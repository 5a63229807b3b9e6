"""Revocation without races, over real HTTP with two server processes on one database: a
password change, disabling or deleting a user refuses every token of a login that read the
account before the change committed, even one whose session is written after it.

Each test runs ROUNDS races of LOGINS logins (spread over a few milliseconds, half on each
process) against one change, then tries every token the logins got. Which tokens must be
refused is known from the outside: a login that succeeded with the old password, or while
the account was not yet disabled or deleted, read the account before the change committed.
(Logging out everywhere changes nothing a login can see, so no outside observer can tell
which racing logins read the account before it: tests/test_revocation.py holds that case,
with the login's steps interleaved deterministically.)

`.ci/run` runs this on SQLite and on PostgreSQL."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import falcon
import pytest
from conftest import PASSWORD
from servers import Reply, race, request, server_process, widgetapi_serve
from test_processes import admin, new_user, server_env, user_path

from widgetapi.config import Config

pytestmark = pytest.mark.slow

ROUNDS = 10
LOGINS = 12
NEW_PASSWORD = "a different passphrase"


@pytest.fixture
def servers(app: falcon.App, config: Config, tmp_path: Path) -> Iterator[tuple[str, str]]:
    # as many password checks at once as threads: the races here are about the database,
    # not about the bounded hashing (whose 503s would only thin them out)
    env = {**server_env(config.database_url), "PASSWORD_HASH_CONCURRENCY": "4"}
    with server_process(widgetapi_serve, env, tmp_path) as one, \
            server_process(widgetapi_serve, env, tmp_path) as other:
        yield one.url, other.url


def logins(servers: tuple[str, str], email: str, password: str = PASSWORD) -> list[Callable[[], Reply]]:
    """LOGINS logins, half on each server, the n-th sent n milliseconds after the start, so
    that some of them read the account while the change is under way."""
    def log_in(index: int) -> Reply:
        time.sleep(index / 1000)
        body = {"email": email, "password": password}
        return request(servers[index % 2], "POST", "/api/v1/auth/login", body)
    return [partial(log_in, index) for index in range(LOGINS)]


def tokens_of(replies: list[Reply]) -> list[str]:
    assert all(reply.status in (200, 401, 403) for reply in replies), replies
    return [reply.body["access_token"] for reply in replies if reply.status == 200]


def still_working(servers: tuple[str, str], tokens: list[str]) -> int:
    """How many of the tokens some server still accepts."""
    working = 0
    for token in tokens:
        headers = {"Authorization": f"Bearer {token}"}
        replies = [request(server, "GET", "/api/v1/auth/user", headers=headers) for server in servers]
        working += any(reply.status == 200 for reply in replies)
    return working


def report(kind: str, survivors: list[int]) -> None:
    print(f"{kind}: {sum(1 for n in survivors if n)} of {len(survivors)} races left tokens alive "
          f"({sum(survivors)} tokens)")


def test_a_password_change_refuses_the_tokens_of_logins_in_flight(servers: tuple[str, str]) -> None:
    survivors = []
    for round_ in range(ROUNDS):
        email = f"change{round_}@example.com"
        headers = new_user(servers[0], email)
        change = partial(request, servers[0], "POST", "/api/v1/auth/password",
                         {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, headers)
        replies = race([change, *logins(servers, email)])
        assert replies[0].status == 200, replies[0]
        # a login with the old password read the account before the change committed
        survivors.append(still_working(servers, tokens_of(replies[1:])))
    report("password change", survivors)
    assert survivors == [0] * ROUNDS


def test_disabling_refuses_the_tokens_of_logins_in_flight_also_once_enabled_again(
        servers: tuple[str, str], config: Config) -> None:
    boss = admin(config, servers[0])
    survivors = []
    for round_ in range(ROUNDS):
        email = f"disabled{round_}@example.com"
        new_user(servers[1], email)
        path = user_path(servers[0], boss, email)
        disable = partial(request, servers[0], "PATCH", path, {"disabled": True}, boss)
        replies = race([disable, *logins(servers, email)])
        assert replies[0].status == 200, replies[0]
        assert request(servers[1], "PATCH", path, {"disabled": False}, boss).status == 200
        # a login that got a token read the account before it was disabled
        survivors.append(still_working(servers, tokens_of(replies[1:])))
    report("disable, then enable", survivors)
    assert survivors == [0] * ROUNDS


def test_deleting_refuses_the_tokens_of_logins_in_flight(servers: tuple[str, str], config: Config) -> None:
    boss = admin(config, servers[0])
    survivors = []
    for round_ in range(ROUNDS):
        email = f"deleted{round_}@example.com"
        new_user(servers[1], email)
        delete = partial(request, servers[0], "DELETE", user_path(servers[0], boss, email), None, boss)
        replies = race([delete, *logins(servers, email)])
        assert replies[0].status == 204, replies[0]
        survivors.append(still_working(servers, tokens_of(replies[1:])))
    report("delete", survivors)
    assert survivors == [0] * ROUNDS
