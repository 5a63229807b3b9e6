"""Common passwords and passwords that contain the email are refused as new passwords
(widgetapi/password_policy.py), at registration, password change and create-admin; existing
accounts with such a password still log in."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import webtest
from conftest import PASSWORD, bearer, login, register

from widgetapi import operations
from widgetapi.config import Config
from widgetapi.db import database
from widgetapi.models import User
from widgetapi.password_policy import common_passwords, password_problem
from widgetapi.passwords import hash_password

REGISTER = "/api/v1/auth/register"
CHANGE = "/api/v1/auth/password"


def test_the_list_is_zxcvbns_and_large() -> None:
    passwords = common_passwords()
    assert len(passwords) >= 10_000
    assert {"password", "iloveyou", "trustno1", "12345678", "sunshine"} <= passwords
    assert all(len(word) >= 8 and word == word.lower() for word in passwords)


@pytest.mark.parametrize("password", ["password", "PassWord", "12345678", "iloveyou", "Sunshine",
                                      "qwertyuiop", "baseball", "football"])
def test_common_passwords_are_refused_whatever_their_case(password: str) -> None:
    assert password_problem(password, "alice@example.com") == "is too common"


@pytest.mark.parametrize(("password", "email"), [
    ("alice-in-wonderland", "alice@example.com"),
    ("my name is ALICE!", "alice@example.com"),
    ("x.y.zed.42 rules", "x.y.zed.42@example.com"),
])
def test_a_password_with_the_email_name_in_it_is_refused(password: str, email: str) -> None:
    assert password_problem(password, email) == "must not contain your email"


@pytest.mark.parametrize(("password", "email"), [
    (PASSWORD, "alice@example.com"),
    ("bob likes long walks", "bob@example.com"),  # a part of 3 characters does not count
    ("example.com is mine", "alice@example.com"),  # only the part before the @
    ("staple battery horse correct", ""),
])
def test_good_passwords_pass(password: str, email: str) -> None:
    assert password_problem(password, email) is None


def test_the_suites_password_passes() -> None:
    for email in ("alice@example.com", "admin@example.com", "user@example.com"):
        assert password_problem(PASSWORD, email) is None


def test_registration_refuses_a_common_password_with_the_other_errors(testapp: webtest.TestApp) -> None:
    body = {"email": "alice@example.com", "password": "Password123"}
    response = testapp.post_json(REGISTER, body, status=400)
    assert response.json == {"status": "fail", "message": "Input payload validation failed",
                             "errors": {"password": "is too common"}}
    response = testapp.post_json(REGISTER, {"email": "alice@example.com", "password": "Alice2026!",
                                            "extra": 1}, status=400)
    assert response.json["errors"] == {"password": "must not contain your email",
                                       "extra": "is not a known field"}
    response = testapp.post_json(REGISTER, {"email": "bad", "password": "iloveyou"}, status=400)
    assert response.json["errors"] == {"email": "bad is not a valid email", "password": "is too common"}
    with database.connection_context():
        assert User.select().count() == 0


def test_registration_by_form_is_held_to_it_too(testapp: webtest.TestApp) -> None:
    response = testapp.post(REGISTER, {"email": "alice@example.com", "password": "trustno1"}, status=400)
    assert response.json["errors"] == {"password": "is too common"}


def test_a_password_change_refuses_them_and_keeps_the_old_password(testapp: webtest.TestApp) -> None:
    token = register(testapp, "alice@example.com")
    refused = [("football", "is too common"), ("ALICE and friends", "must not contain your email")]
    for new_password, message in refused:
        response = testapp.post_json(CHANGE, {"current_password": PASSWORD, "new_password": new_password},
                                     headers=bearer(token), status=400)
        assert response.json["errors"] == {"new_password": message}
    login(testapp, "alice@example.com", PASSWORD)
    testapp.get("/api/v1/auth/user", headers=bearer(token), status=200)


def test_an_existing_account_with_a_common_password_still_logs_in(
        testapp: webtest.TestApp, config: Config) -> None:
    with database.connection_context():
        password_hash = hash_password("password1", config.bcrypt_log_rounds)
        User.create(email="old@example.com", password_hash=password_hash)
    login(testapp, "old@example.com", "password1")


def test_create_admin_refuses_them(config: Config, app: object) -> None:
    with pytest.raises(operations.OperationFailed, match="password: is too common"):
        operations.create_admin(config, "boss@example.com", lambda: "superman")


def test_the_list_costs_nothing_at_start_up_and_little_memory_on_first_use(config: Config) -> None:
    """Creating the app reads no list; the first check reads zxcvbn's list alone (no zxcvbn
    import, whose dictionaries cost tens of MB) and keeps it in under 4 MB."""
    script = textwrap.dedent(f"""
        import sys, tracemalloc
        from widgetapi.app import create_app
        from widgetapi.config import Config
        from widgetapi import password_policy
        create_app(Config(env="testing", database_url={config.database_url!r}, secret_key="x" * 40))
        assert password_policy.common_passwords.cache_info().currsize == 0, "read at start-up"
        tracemalloc.start()
        assert password_policy.password_problem("iloveyou", "") == "is too common"
        held = tracemalloc.get_traced_memory()[0]
        assert "zxcvbn" not in sys.modules
        print(held)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[-1]) < 4_000_000
