"""Revocation against a login in flight, its steps interleaved deterministically: the login
reads the account while the revocation's transaction is open (so it sees the old state),
and writes its session after the revocation committed. The token must be refused.

Logging out everywhere changes nothing a login can observe, so over HTTP no one can tell
which racing logins read the account before it committed; here the order is certain.
(tests/test_revocation_races.py races the changes a login can observe over real HTTP.)"""
from __future__ import annotations

import threading
from collections.abc import Callable
from types import SimpleNamespace

import falcon
import falcon.testing
import pytest
import webtest
from conftest import bearer, login, register

from widgetapi.accounts import update_user
from widgetapi.config import Config
from widgetapi.db import database
from widgetapi.keys import KeyRing
from widgetapi.models import User
from widgetapi.resources.auth import TokenIssuer
from widgetapi.spec import load_spec
from widgetapi.validation import Validator

ALICE = "alice@example.com"
BLACKLISTED = "Token blacklisted. Please log in again."


def log_out_everywhere(user: User) -> None:
    user.revoke_all_tokens()


def disable(user: User) -> None:
    update_user(user, disabled=True)


def token_of_a_login_in_flight(config: Config, revoke: Callable[[User], None]) -> str:
    """A token issued as Login issues it, for a login that read the account while `revoke`
    was under way and that writes its session after `revoke` committed."""
    revoked, read = threading.Event(), threading.Event()

    def revocation() -> None:
        with database.connection_context(), database.atomic():
            revoke(User.by_email(ALICE))  # type: ignore[arg-type]
            revoked.set()
            read.wait(timeout=30)  # commits once the login has read the account

    thread = threading.Thread(target=revocation)
    thread.start()
    try:
        assert revoked.wait(timeout=30)
        with database.connection_context():
            user = User.by_email(ALICE)  # the login's read: the revocation is not committed yet
            assert user is not None and not user.disabled
            issued_at = user.token_issue_time()
            read.set()
            thread.join(timeout=30)
            req = falcon.testing.create_req()
            req.context.client = SimpleNamespace(address="127.0.0.1")
            issuer = TokenIssuer(config, Validator(load_spec()), KeyRing.from_config(config))
            return issuer._start_session(req, user, issued_at)
    finally:
        read.set()
        thread.join(timeout=30)


@pytest.mark.parametrize("revoke", [log_out_everywhere, disable])
def test_a_revocation_refuses_the_token_of_a_login_that_read_the_account_before_it_committed(
        testapp: webtest.TestApp, config: Config, revoke: Callable[[User], None]) -> None:
    register(testapp, ALICE)

    token = token_of_a_login_in_flight(config, revoke)

    with database.connection_context():
        update_user(User.by_email(ALICE), disabled=False)  # type: ignore[arg-type]
    response = testapp.get("/api/v1/auth/user", headers=bearer(token), status=401)
    assert response.json["message"] == BLACKLISTED
    sessions = testapp.get("/api/v1/auth/sessions", headers=bearer(login(testapp, ALICE))).json
    assert sessions["total_items"] == 1  # the fresh login's own: the refused one is not listed
