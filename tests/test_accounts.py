"""The service never loses its last active administrator: not by demoting, disabling or
deleting, and not when several such requests race each other over real HTTP."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from functools import partial

import falcon
import pytest
import webtest
from conftest import PASSWORD, bearer, login, register
from servers import race, request, threaded_server

from widgetapi import operations
from widgetapi.config import Config
from widgetapi.models import User

USERS = "/api/v1/users"
LAST_ADMIN = {"status": "fail",
              "message": "The last active administrator cannot be demoted, disabled or deleted"}
RACERS = 6
ROUNDS = 3


def item(email: str) -> str:
    user = User.by_email(email)
    assert user is not None
    return f"{USERS}/{user.public_id}"


def active_admins() -> list[str]:
    return sorted(user.email for user in User.active_admins())


def test_the_only_administrator_cannot_be_demoted_disabled_or_deleted(
        testapp: webtest.TestApp, admin_headers: dict[str, str]) -> None:
    me = item("admin@example.com")
    for body in [{"admin": False}, {"disabled": True}, {"admin": False, "disabled": True}]:
        assert testapp.patch_json(me, body, headers=admin_headers, status=409).json == LAST_ADMIN
    assert testapp.delete(me, headers=admin_headers, status=409).json == LAST_ADMIN
    response = testapp.delete_json("/api/v1/auth/user", {"current_password": PASSWORD},
                                   headers=admin_headers, status=409)
    assert response.json == LAST_ADMIN
    # changes that keep them an active administrator are fine
    body = testapp.patch_json(me, {"admin": True, "disabled": False}, headers=admin_headers, status=200).json
    assert (body["admin"], body["disabled"]) == (True, False)
    assert active_admins() == ["admin@example.com"]
    testapp.get(USERS, headers=admin_headers, status=200)


def test_a_disabled_administrator_does_not_count(
        testapp: webtest.TestApp, admin_headers: dict[str, str], config: Config) -> None:
    operations.create_admin(config, "second@example.com", lambda: PASSWORD)
    testapp.patch_json(item("second@example.com"), {"disabled": True}, headers=admin_headers, status=200)
    me = item("admin@example.com")
    assert testapp.patch_json(me, {"admin": False}, headers=admin_headers, status=409).json == LAST_ADMIN
    # the disabled administrator may be demoted or deleted: they are not active
    testapp.patch_json(item("second@example.com"), {"admin": False}, headers=admin_headers, status=200)
    testapp.delete(item("second@example.com"), headers=admin_headers, status=204)
    assert active_admins() == ["admin@example.com"]


def test_with_two_administrators_one_may_go(
        testapp: webtest.TestApp, admin_headers: dict[str, str], config: Config) -> None:
    operations.create_admin(config, "second@example.com", lambda: PASSWORD)
    second = bearer(login(testapp, "second@example.com"))
    testapp.patch_json(item("admin@example.com"), {"admin": False}, headers=second, status=200)
    assert testapp.patch_json(item("second@example.com"), {"disabled": True}, headers=second,
                              status=409).json == LAST_ADMIN
    assert active_admins() == ["second@example.com"]


def test_ordinary_users_come_and_go_freely(testapp: webtest.TestApp, admin_headers: dict[str, str]) -> None:
    register(testapp, "alice@example.com")
    testapp.patch_json(item("alice@example.com"), {"disabled": True}, headers=admin_headers, status=200)
    testapp.delete(item("alice@example.com"), headers=admin_headers, status=204)


# Racing over real HTTP: the check and the write are serialised

@pytest.fixture
def live_url(app: falcon.App) -> Iterator[str]:
    with threaded_server(app, threads=RACERS + 2) as url:
        yield url


def make_admins(config: Config, testapp: webtest.TestApp, emails: list[str]) -> list[dict[str, str]]:
    for email in emails:
        operations.create_admin(config, email, lambda: PASSWORD)
    return [bearer(login(testapp, email)) for email in emails]


@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_the_last_two_administrators_demoting_themselves_at_once_keep_one(
        app: falcon.App, testapp: webtest.TestApp, live_url: str, config: Config, round_number: int) -> None:
    emails = ["one@example.com", "other@example.com"]
    headers = make_admins(config, testapp, emails)
    replies = race([partial(request, live_url, "PATCH", item(email), {"admin": False}, headers[index])
                    for index, email in enumerate(emails)])
    assert sorted(reply.status for reply in replies) == [200, 409], replies
    assert [reply.body for reply in replies if reply.status == 409] == [LAST_ADMIN]
    assert len(active_admins()) == 1


@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_the_last_two_administrators_demoting_each_other_at_once_keep_one(
        app: falcon.App, testapp: webtest.TestApp, live_url: str, config: Config, round_number: int) -> None:
    """The loser is refused either way: by the rule (409), or, when the winner's change
    landed before its request was authenticated, as disabled (its token refused: 401)."""
    one, other = make_admins(config, testapp, ["one@example.com", "other@example.com"])
    paths = [item("other@example.com"), item("one@example.com")]
    replies = race([partial(request, live_url, "PATCH", paths[0], {"disabled": True}, one),
                    partial(request, live_url, "PATCH", paths[1], {"disabled": True}, other)])
    statuses = sorted(reply.status for reply in replies)
    assert statuses in ([200, 409], [200, 401]), replies
    assert len(active_admins()) == 1


@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_many_administrators_leaving_at_once_in_every_way_keep_one(
        app: falcon.App, testapp: webtest.TestApp, live_url: str, config: Config, round_number: int) -> None:
    emails = [f"admin{number}@example.com" for number in range(RACERS)]
    headers = make_admins(config, testapp, emails)
    ways: list[tuple[str, str, dict | None]] = [
        ("PATCH", item(emails[0]), {"admin": False}),
        ("PATCH", item(emails[1]), {"disabled": True}),
        ("DELETE", item(emails[2]), None),
        ("DELETE", "/api/v1/auth/user", {"current_password": PASSWORD}),
        ("PATCH", item(emails[4]), {"admin": False, "disabled": True}),
        ("DELETE", item(emails[5]), None),
    ]
    # each administrator takes themselves out, one way or another
    replies = race([partial(request, live_url, method, path, body, headers[index])
                    for index, (method, path, body) in enumerate(ways)])
    assert Counter("ok" if reply.status in (200, 204) else reply.status for reply in replies) == \
        {"ok": RACERS - 1, 409: 1}, replies
    assert len(active_admins()) == 1
