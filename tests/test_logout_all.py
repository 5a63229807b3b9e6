"""POST /auth/logout-all: every token the user holds is refused at once, later ones are not."""
from __future__ import annotations

from datetime import timedelta

import webtest
from conftest import bearer, login, register, with_session

from widgetapi.config import Config
from widgetapi.keys import KeyRing
from widgetapi.models import User
from widgetapi.timeutil import utcnow
from widgetapi.tokens import issue_token

USER = "/api/v1/auth/user"
LOGOUT_ALL = "/api/v1/auth/logout-all"
BLACKLISTED = "Token blacklisted. Please log in again."


def assert_refused(testapp: webtest.TestApp, token: str) -> None:
    response = testapp.get(USER, headers=bearer(token), status=401)
    assert response.json == {"status": "fail", "message": BLACKLISTED}
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_logout_all_refuses_every_token_of_the_user(testapp: webtest.TestApp) -> None:
    tokens = [register(testapp, "alice@example.com")]
    tokens += [login(testapp, "alice@example.com") for _ in range(3)]
    response = testapp.post(LOGOUT_ALL, headers=bearer(tokens[1]), status=200)
    assert response.json == {"status": "success", "message": "successfully logged out everywhere"}
    for token in tokens:
        assert_refused(testapp, token)


def test_logout_all_leaves_other_users_alone(testapp: webtest.TestApp) -> None:
    alice = register(testapp, "alice@example.com")
    bob = register(testapp, "bob@example.com")
    testapp.post(LOGOUT_ALL, headers=bearer(alice), status=200)
    assert testapp.get(USER, headers=bearer(bob), status=200).json["email"] == "bob@example.com"


def test_a_login_right_after_logout_all_works(testapp: webtest.TestApp) -> None:
    """Within the same second too: iat carries microseconds, so the order decides."""
    old = register(testapp, "alice@example.com")
    testapp.post(LOGOUT_ALL, headers=bearer(old), status=200)
    fresh = login(testapp, "alice@example.com")
    assert testapp.get(USER, headers=bearer(fresh), status=200).json["email"] == "alice@example.com"
    assert_refused(testapp, old)


def test_the_cutoff_splits_one_second(testapp: webtest.TestApp, config: Config) -> None:
    """Tokens issued a microsecond before a logout everywhere are refused, a microsecond
    after are not, although all carry the same whole-second time."""
    register(testapp, "alice@example.com")
    user = User.by_email("alice@example.com")
    assert user is not None
    cutoff = utcnow().replace(microsecond=500_000)
    tick = timedelta(microseconds=1)
    keys = KeyRing.from_config(config)
    before = with_session(issue_token(user.public_id, False, keys, 300, now=cutoff - tick))
    after = with_session(issue_token(user.public_id, False, keys, 300, now=cutoff + tick))
    User.update(tokens_valid_after=cutoff).where(User.id == user.id).execute()
    assert_refused(testapp, before)
    assert testapp.get(USER, headers=bearer(after), status=200).json["email"] == "alice@example.com"


def test_the_calling_token_is_refused_even_if_issued_by_a_clock_running_ahead(
        testapp: webtest.TestApp, config: Config) -> None:
    register(testapp, "alice@example.com")
    user = User.by_email("alice@example.com")
    assert user is not None
    # later than this server's clock, within the current second (PyJWT refuses a future second)
    ahead = with_session(issue_token(user.public_id, False, KeyRing.from_config(config), 300,
                                     now=utcnow().replace(microsecond=999_999)))
    testapp.post(LOGOUT_ALL, headers=bearer(ahead), status=200)
    assert_refused(testapp, ahead)


def test_logout_all_never_moves_the_cutoff_back(testapp: webtest.TestApp) -> None:
    register(testapp, "alice@example.com")
    user = User.by_email("alice@example.com")
    assert user is not None
    later = utcnow() + timedelta(hours=1)
    user.revoke_all_tokens(issued_at_least=later)
    user.revoke_all_tokens(issued_at_least=utcnow())
    assert User.get_by_id(user.id).tokens_valid_after == later


def test_logout_all_needs_a_token(testapp: webtest.TestApp) -> None:
    response = testapp.post(LOGOUT_ALL, status=401)
    assert response.json == {"status": "fail", "message": "Unauthorized"}


def test_a_logged_out_everywhere_token_cannot_log_out_everywhere_again(testapp: webtest.TestApp) -> None:
    token = register(testapp, "alice@example.com")
    testapp.post(LOGOUT_ALL, headers=bearer(token), status=200)
    response = testapp.post(LOGOUT_ALL, headers=bearer(token), status=401)
    assert response.json["message"] == BLACKLISTED


def test_a_token_issued_after_logout_all_is_stamped_after_it(testapp: webtest.TestApp) -> None:
    """Even when the clock has not moved past the cutoff (same microsecond, or a clock behind
    the one that logged out), a new token's iat lands after it, so it is not refused."""
    register(testapp, "alice@example.com")
    user = User.by_email("alice@example.com")
    assert user is not None
    cutoff = utcnow() + timedelta(hours=1)
    user.tokens_valid_after = cutoff
    assert user.token_issue_time() == cutoff + timedelta(microseconds=1)
    assert not user.refuses_token(user.token_issue_time())
    user.tokens_valid_after = None
    assert user.token_issue_time() <= utcnow()
