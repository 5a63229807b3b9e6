"""bcrypt hashing, and that a login costs the same bcrypt work whether or not the email exists."""
from __future__ import annotations

import bcrypt
import pytest
from conftest import PASSWORD, register

from widgetapi import passwords
from widgetapi.passwords import check_password, hash_password


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
