"""JWT access tokens: signed with the key ring's key (HS256 or EdDSA, named by `kid` in the
header), with sub, admin, iat, exp, jti, iss and aud, all required; and the tokens verified
before, remembered (VerifiedTokens)."""
from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import jwt

from widgetapi.keys import KeyRing
from widgetapi.timeutil import utcnow

REQUIRED_CLAIMS = ["sub", "admin", "iat", "exp", "jti", "iss", "aud"]
# What a jti (a session's id, widgetapi.models.Session) can be: anything else names no session,
# and must not reach the database (PostgreSQL refuses a NUL in text with an error).
JTI = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Tokens a process remembers as verified. One entry is about 1.5 KB; a process serving more
# live tokens than this checks the signatures of the least recently used ones again.
REMEMBERED_TOKENS = 1024
_PYJWT = jwt.PyJWT(options={"require": REQUIRED_CLAIMS})


class TokenError(Exception):
    """The token cannot be used; the message is the one the client sees."""


class TokenInvalid(TokenError):
    def __init__(self) -> None:
        super().__init__("Invalid token. Please log in again.")


class TokenExpired(TokenError):
    def __init__(self) -> None:
        super().__init__("Access token expired. Please log in again.")


@dataclass(frozen=True)
class Claims:
    public_id: uuid.UUID
    admin: bool
    issued_at: datetime
    expires_at: datetime
    jti: str

    def seconds_left(self, now: datetime) -> int:
        return max(int((self.expires_at - now).total_seconds()), 0)


def new_token_id() -> str:
    """A new `jti`: unique per token, the id of the token's session."""
    return uuid.uuid4().hex


def issue_token(public_id: uuid.UUID, admin: bool, keys: KeyRing, lifetime: int,
                now: datetime | None = None, jti: str | None = None) -> str:
    """Sign a new access token for a user, issued at `now` (naive UTC; default: the present),
    with `jti` (default: a new one)."""
    issued = (now or utcnow()).replace(tzinfo=timezone.utc).timestamp()
    payload = {
        "sub": str(public_id),
        "admin": admin,
        # NumericDates with microseconds (RFC 7519 allows fractions): a logout everywhere
        # refuses tokens issued before it, even within the same second, and not those after.
        "iat": issued,
        "exp": issued + lifetime,
        "jti": jti or new_token_id(),
        "iss": keys.issuer,
        "aud": keys.audience,
    }
    return jwt.encode(payload, keys.signing_key, algorithm=keys.algorithm, headers={"kid": keys.kid})


def decode_token(token: str, keys: KeyRing) -> Claims:
    """Verify a token's signature and claims; raises TokenExpired or TokenInvalid.

    The header's `kid` picks the key (reading the header is a parse, no cryptography); the
    algorithm is the key ring's alone, whatever the header says, so `alg: none`, HS256 under
    EdDSA (a public key as an HMAC secret) and EdDSA under HS256 all fail. One signature
    check per token."""
    return _verified_payload(token, keys)[1]


def _verified_payload(token: str, keys: KeyRing) -> tuple[dict[str, Any], Claims]:
    try:
        # Reading a token costs PyJWT more than checking its signature (it looks at every
        # character in Python), so with a single key the token is read once and its kid
        # checked after; only with older keys too does the kid pick the key first.
        key = next(iter(keys.verifying_keys.values())) if len(keys.verifying_keys) == 1 else \
            keys.verifying_key(jwt.get_unverified_header(token).get("kid"))
        if key is None:
            raise TokenInvalid()
        decoded = _PYJWT.decode_complete(token, key, algorithms=[keys.algorithm], issuer=keys.issuer,
                                         audience=keys.audience)
        if keys.verifying_key(decoded["header"].get("kid")) is not key:
            raise TokenInvalid()
        payload = decoded["payload"]
    except jwt.ExpiredSignatureError:
        raise TokenExpired() from None
    except jwt.InvalidTokenError:
        raise TokenInvalid() from None
    return payload, _claims(payload)


def _claims(payload: dict) -> Claims:
    sub, admin, jti = payload["sub"], payload["admin"], payload["jti"]
    if not isinstance(admin, bool) or not isinstance(jti, str) or not JTI.fullmatch(jti):
        raise TokenInvalid()
    if isinstance(payload["iat"], bool) or isinstance(payload["exp"], bool):
        raise TokenInvalid()
    try:
        return Claims(
            public_id=uuid.UUID(sub),
            admin=admin,
            issued_at=_naive_utc(payload["iat"]),
            expires_at=_naive_utc(payload["exp"]),
            jti=jti,
        )
    except (TypeError, ValueError, AttributeError, OverflowError, OSError):
        raise TokenInvalid() from None


def _naive_utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, timezone.utc).replace(tzinfo=None)


class VerifiedTokens:
    """Decodes tokens for one key ring, remembering the ones it verified.

    Reading a token and checking its signature is most of what an authenticated request
    costs (PyJWT checks every character in Python), and a client sends the same token
    again and again. So the claims of each token that passed `decode_token` are kept, by
    the token's exact text, in a bounded LRU; refused tokens are never kept. On each hit
    PyJWT checks the claims again, the time-bound ones (iat, nbf, exp, in its order)
    against the present, so a remembered token expires exactly when it would have. The
    LRU belongs to one key ring: keys that change make a new KeyRing, whose tokens start
    unremembered. Whether the token's session is still live and its user still there is
    not a property of the token: the caller asks the database on every request."""

    def __init__(self, keys: KeyRing, size: int = REMEMBERED_TOKENS) -> None:
        self.keys = keys
        self._verified = functools.lru_cache(maxsize=size)(self._verify)

    def _verify(self, token: str) -> tuple[dict[str, Any], Claims]:
        return _verified_payload(token, self.keys)

    def decode(self, token: str) -> Claims:
        """The token's claims, as `decode_token` gives them; raises TokenExpired or TokenInvalid."""
        payload, claims = self._verified(token)
        try:
            # PyJWT's own claim checks, which decode runs after the signature: no public
            # name yet (PyJWT 2.x; tests/test_verified_tokens.py holds a hit to a decode).
            _PYJWT._validate_claims(payload, _PYJWT.options, audience=self.keys.audience,
                                    issuer=self.keys.issuer)
        except jwt.ExpiredSignatureError:
            raise TokenExpired() from None
        except jwt.InvalidTokenError:
            raise TokenInvalid() from None
        return claims

    def __len__(self) -> int:
        """How many tokens are remembered."""
        return self._verified.cache_info().currsize

    def forget(self) -> None:
        self._verified.cache_clear()
