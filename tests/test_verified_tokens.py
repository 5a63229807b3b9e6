"""widgetapi.tokens.VerifiedTokens: the tokens a process remembers as verified, and the rules
that keep remembering them from changing any answer."""
from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt.api_jwt
import pytest
import webtest
from conftest import PASSWORD, SECRET_KEY, bearer, login, register
from jwt.algorithms import HMACAlgorithm
from test_tokens import HEADER, KEYS, OTHER_KEYS, claims_for, forge

from widgetapi.app import create_app
from widgetapi.config import Config
from widgetapi.keys import KeyRing
from widgetapi.timeutil import utcnow
from widgetapi.tokens import TokenExpired, TokenInvalid, VerifiedTokens, decode_token, issue_token

USER = "/api/v1/auth/user"
EXPIRED = "Access token expired. Please log in again."
BLACKLISTED = "Token blacklisted. Please log in again."


@pytest.fixture
def signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each HS256 signature PyJWT checks from now on."""
    checks: list[str] = []

    original = HMACAlgorithm.verify

    def counted(self: Any, message: bytes, key: Any, signature: bytes) -> bool:
        checks.append("HS256")
        return bool(original(self, message, key, signature))
    monkeypatch.setattr(HMACAlgorithm, "verify", counted)
    return checks


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[timedelta]]:
    """PyJWT's clock, moved by the timedelta in the list (the real time plus it)."""
    offset = [timedelta(0)]

    class Moved(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return datetime.now(tz) + offset[0]
    monkeypatch.setattr(jwt.api_jwt, "datetime", Moved)
    yield offset


def token(lifetime: int = 300, keys: KeyRing = KEYS) -> str:
    return issue_token(uuid.uuid4(), False, keys, lifetime)


def test_a_verified_token_is_remembered_and_not_checked_again(signature_checks: list[str]) -> None:
    tokens = VerifiedTokens(KEYS)
    good = token()
    first = tokens.decode(good)
    assert tokens.decode(good) == first == decode_token(good, KEYS)
    assert signature_checks == ["HS256", "HS256"]  # the first decode and decode_token's own
    assert len(tokens) == 1


@pytest.mark.parametrize("bad", [
    pytest.param(lambda: token()[:-2] + "AA", id="signature"),
    pytest.param(lambda: token(keys=OTHER_KEYS), id="another key"),
    pytest.param(lambda: issue_token(uuid.uuid4(), False, KEYS, 60, now=utcnow() - timedelta(hours=1)),
                 id="expired"),
    pytest.param(lambda: forge(HEADER, {**claims_for(uuid.uuid4()), "jti": "a b"}), id="jti"),
    pytest.param(lambda: forge(HEADER, {**claims_for(uuid.uuid4()), "aud": "elsewhere"}), id="audience"),
    pytest.param(lambda: forge({**HEADER, "kid": "unknown"}, claims_for(uuid.uuid4())), id="kid"),
    pytest.param(lambda: "not.a.token", id="garbage"),
])
def test_a_refused_token_is_never_remembered(bad: Any, signature_checks: list[str]) -> None:
    tokens = VerifiedTokens(KEYS)
    refused = bad()
    for _ in range(2):
        with pytest.raises((TokenInvalid, TokenExpired)):
            tokens.decode(refused)
    assert len(tokens) == 0


def test_a_remembered_token_expires_when_it_would_have(clock: list[timedelta]) -> None:
    tokens = VerifiedTokens(KEYS)
    good = token(lifetime=60)
    tokens.decode(good)
    clock[0] = timedelta(seconds=59)
    tokens.decode(good)
    clock[0] = timedelta(seconds=61)
    with pytest.raises(TokenExpired, match="^Access token expired. Please log in again.$"):
        tokens.decode(good)
    assert len(tokens) == 1  # still there, refused on each hit: it never comes back to life
    with pytest.raises(TokenExpired):
        tokens.decode(good)


@pytest.mark.parametrize("moved", [-3600, -1, 0, 59, 60, 61, 10**6])
def test_a_remembered_token_is_answered_as_pyjwt_answers_it_at_every_moment(
        clock: list[timedelta], moved: int) -> None:
    """iat, nbf and exp are checked again on each hit, by PyJWT, in its order: a token whose
    nbf and exp have both passed is expired; one used before its iat (a clock set back) is
    invalid, however it was remembered."""
    tokens = VerifiedTokens(KEYS)
    now = int(datetime.now(timezone.utc).timestamp())
    claims = {**claims_for(uuid.uuid4()), "iat": now - 10, "nbf": now + 30, "exp": now + 60}
    good = forge(HEADER, claims)
    clock[0] = timedelta(seconds=45)
    tokens.decode(good)  # remembered while valid
    clock[0] = timedelta(seconds=moved)
    outcomes: list[Any] = []
    for decode in (tokens.decode, lambda text: decode_token(text, KEYS)):
        try:
            outcomes.append(decode(good))
        except (TokenExpired, TokenInvalid) as error:
            outcomes.append(type(error).__name__)
    assert outcomes[0] == outcomes[1]
    expected = {-3600: "TokenInvalid", -1: "TokenInvalid", 0: "TokenInvalid", 60: "TokenExpired",
                61: "TokenExpired", 10**6: "TokenExpired"}.get(moved)
    assert outcomes[0] == expected if expected else outcomes[0].jti == claims["jti"]
    assert len(tokens) == 1


def test_a_key_change_empties_it() -> None:
    """Keys change by building a new key ring, which starts with nothing remembered: a token
    of a key no longer trusted is refused though the old ring remembered it."""
    old_config = Config(secret_key="an-old-secret-key-that-is-long-enough", secret_key_previous=(SECRET_KEY,))
    old_ring = KeyRing.from_config(old_config)
    signed_with_previous = token(keys=KEYS)
    remembered = VerifiedTokens(old_ring)
    remembered.decode(signed_with_previous)
    assert len(remembered) == 1
    new_ring = KeyRing.from_config(dataclasses.replace(old_config, secret_key_previous=()))
    renewed = VerifiedTokens(new_ring)
    assert len(renewed) == 0
    with pytest.raises(TokenInvalid):
        renewed.decode(signed_with_previous)
    remembered.forget()
    assert len(remembered) == 0


def test_it_is_bounded_and_forgets_the_least_recently_used(signature_checks: list[str]) -> None:
    tokens = VerifiedTokens(KEYS, size=3)
    texts = [token() for _ in range(5)]
    for text in texts:
        tokens.decode(text)
    assert len(tokens) == 3
    signature_checks.clear()
    tokens.decode(texts[4])
    assert signature_checks == []
    tokens.decode(texts[0])  # forgotten: checked again
    assert signature_checks == ["HS256"]
    assert len(tokens) == 3


def test_a_process_checks_each_signature_once_and_each_session_every_time(
        config: Config, testapp: webtest.TestApp, signature_checks: list[str]) -> None:
    """Through the app: the second request with a token checks no signature, yet a logout
    (and a new login's token) is seen by the very next request."""
    access = register(testapp, "alice@example.com")
    signature_checks.clear()
    for _ in range(3):
        testapp.get(USER, headers=bearer(access), status=200)
    assert signature_checks == ["HS256"]
    testapp.post("/api/v1/auth/logout", headers=bearer(access), status=200)
    refused = testapp.get(USER, headers=bearer(access), status=401)
    assert refused.json["message"] == BLACKLISTED
    another = webtest.TestApp(create_app(config))  # another process: its own memory
    fresh = login(testapp, "alice@example.com", PASSWORD)
    another.get(USER, headers=bearer(fresh), status=200)
    testapp.post("/api/v1/auth/logout", headers=bearer(fresh), status=200)
    assert another.get(USER, headers=bearer(fresh), status=401).json["message"] == BLACKLISTED
