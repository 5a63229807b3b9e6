"""bcrypt password hashing."""
from __future__ import annotations

import functools

import bcrypt

BCRYPT_MAX_BYTES = 72


def hash_password(password: str, rounds: int) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode("ascii")


def check_password(password: str, password_hash: str | None, rounds: int) -> bool:
    """True when the password matches the hash. With no hash (an unknown email) or a
    password bcrypt cannot take, the same bcrypt work is done before saying False,
    so the response time does not tell whether an account exists."""
    candidate = password.encode()
    if password_hash is None or len(candidate) > BCRYPT_MAX_BYTES:
        bcrypt.checkpw(b"", password_hash.encode() if password_hash else _dummy_hash(rounds))
        return False
    return bcrypt.checkpw(candidate, password_hash.encode())


@functools.cache
def _dummy_hash(rounds: int) -> bytes:
    return bcrypt.hashpw(b"no account has this password", bcrypt.gensalt(rounds))
