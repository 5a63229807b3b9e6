"""JWT access tokens: HS256, with sub, admin, iat, exp and jti, all required."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import jwt

from widgetapi.timeutil import utcnow

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["sub", "admin", "iat", "exp", "jti"]


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


def issue_token(public_id: uuid.UUID, admin: bool, secret_key: str, lifetime: int,
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
    }
    return jwt.encode(payload, secret_key, algorithm=ALGORITHM)


def decode_token(token: str, secret_key: str) -> Claims:
    """Verify a token's signature and claims; raises TokenExpired or TokenInvalid."""
    try:
        payload = jwt.decode(token, secret_key, algorithms=[ALGORITHM],
                             options={"require": REQUIRED_CLAIMS})
    except jwt.ExpiredSignatureError:
        raise TokenExpired() from None
    except jwt.InvalidTokenError:
        raise TokenInvalid() from None
    return _claims(payload)


def _claims(payload: dict) -> Claims:
    sub, admin, jti = payload["sub"], payload["admin"], payload["jti"]
    if not isinstance(admin, bool) or not isinstance(jti, str) or not jti:
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
