"""Config.from_env: the token key settings, and production refusing keys it cannot trust."""
from __future__ import annotations

import secrets

import pytest

from widgetapi.config import INSECURE_DEV_KEY, Config, ConfigError
from widgetapi.key_strength import estimated_strength
from widgetapi.keys import new_secret

STRONG = "Fq7-wX2zLp9_Rt4mVb8kNc3hJs6yGd5e"  # 32 characters, 32 different
OTHER_STRONG = "0123456789-other-strong-secret-key-for-tests"


def production(**settings: str) -> dict[str, str]:
    return {"WIDGETAPI_ENV": "production", "SECRET_KEY": STRONG, "ALLOWED_HOSTS": "api.example.com",
            **settings}


def test_defaults() -> None:
    config = Config.from_env({})
    assert config.jwt_algorithm == "HS256"
    assert config.secret_key == INSECURE_DEV_KEY
    assert config.secret_key_previous == ()
    assert (config.token_issuer, config.token_audience) == ("widgetapi", "widgetapi")


def test_token_settings_are_read() -> None:
    config = Config.from_env(production(SECRET_KEY_PREVIOUS=f" {OTHER_STRONG} ,, {STRONG[::-1]} ",
                                        TOKEN_ISSUER="https://auth.example.com", TOKEN_AUDIENCE="widgets"))
    assert config.secret_key_previous == (OTHER_STRONG, STRONG[::-1])
    assert config.token_issuer == "https://auth.example.com"
    assert config.token_audience == "widgets"


@pytest.mark.parametrize("value", ["EdDSA", "eddsa", " EDDSA "])
def test_eddsa_is_chosen_whatever_the_case(value: str) -> None:
    config = Config.from_env({"JWT_ALGORITHM": value, "JWT_PRIVATE_KEY_FILE": "/keys/jwt.pem",
                              "JWT_PREVIOUS_PUBLIC_KEY_FILES": "/keys/old.pub.pem, /keys/older.pub.pem"})
    assert config.jwt_algorithm == "EdDSA"
    assert config.jwt_private_key_file == "/keys/jwt.pem"
    assert config.jwt_previous_public_key_files == ("/keys/old.pub.pem", "/keys/older.pub.pem")
    assert config.secret_key == ""  # signs nothing: no development key lurks under EdDSA


def test_eddsa_in_production_needs_no_secret_key() -> None:
    config = Config.from_env({"WIDGETAPI_ENV": "production", "JWT_ALGORITHM": "EdDSA",
                              "JWT_PRIVATE_KEY_FILE": "/keys/jwt.pem", "ALLOWED_HOSTS": "api.example.com"})
    assert config.jwt_algorithm == "EdDSA"


def refusal(environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as raised:
        Config.from_env(environ)
    message = str(raised.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(("settings", "names"), [
    ({"JWT_ALGORITHM": "RS256"}, "JWT_ALGORITHM"),
    ({"JWT_ALGORITHM": "none"}, "JWT_ALGORITHM"),
    ({"JWT_ALGORITHM": "EdDSA"}, "JWT_PRIVATE_KEY_FILE"),
    ({"JWT_ALGORITHM": "EdDSA", "JWT_PRIVATE_KEY_FILE": "  "}, "JWT_PRIVATE_KEY_FILE"),
    ({"JWT_PRIVATE_KEY_FILE": "/keys/jwt.pem"}, "JWT_PRIVATE_KEY_FILE"),
    ({"JWT_PREVIOUS_PUBLIC_KEY_FILES": "/keys/old.pub.pem"}, "JWT_PREVIOUS_PUBLIC_KEY_FILES"),
])
@pytest.mark.parametrize("env", ["development", "production"])
def test_settings_that_cannot_work_anywhere(env: str, settings: dict[str, str], names: str) -> None:
    assert names in refusal({"WIDGETAPI_ENV": env, "SECRET_KEY": STRONG, **settings})


@pytest.mark.parametrize(("settings", "names", "why"), [
    ({"SECRET_KEY": ""}, "SECRET_KEY", "must be set"),
    ({"SECRET_KEY": INSECURE_DEV_KEY}, "SECRET_KEY", "development key"),
    ({"SECRET_KEY": STRONG[:31]}, "SECRET_KEY", "32 characters"),
    ({"SECRET_KEY": "abcdefg" * 10}, "SECRET_KEY", "8 different characters"),
    ({"SECRET_KEY_PREVIOUS": f"{OTHER_STRONG},short-and-weak"}, "SECRET_KEY_PREVIOUS (key 2 of 2)",
     "32 characters"),
    ({"SECRET_KEY_PREVIOUS": "ab" * 30}, "SECRET_KEY_PREVIOUS (key 1 of 1)", "8 different characters"),
    ({"SECRET_KEY_PREVIOUS": INSECURE_DEV_KEY}, "SECRET_KEY_PREVIOUS (key 1 of 1)", "development key"),
])
def test_production_refuses_weak_secrets(settings: dict[str, str], names: str, why: str) -> None:
    message = refusal(production(**settings))
    assert names in message and why in message
    assert "widgetapi gen-key" in message
    for value in settings.values():  # the message never repeats a key
        for key in value.split(","):
            assert not key or key not in message


@pytest.mark.parametrize(("key", "why"), [
    ("password1password1password1password1", "a short pattern repeated"),
    ("abcdefgh" * 4, "a short pattern repeated"),
    ("0123456789" + "abcdefghijklmnopqrstuvwxyz", "bits of estimated strength, at least 128"),
    ("k" * 20 + "abcdefghijklmnop", "bits of estimated strength, at least 128"),
    ("a" * 60 + "bcdfghjk", "bits of estimated strength, at least 128"),
])
@pytest.mark.parametrize("setting", ["SECRET_KEY", "SECRET_KEY_PREVIOUS"])
def test_production_refuses_patterns_and_keys_under_128_bits(setting: str, key: str, why: str) -> None:
    message = refusal(production(**{setting: key}))
    assert setting in message and why in message and "widgetapi gen-key" in message
    assert key not in message and "\n" not in message


def test_what_gen_key_prints_passes_and_so_do_random_hex_keys() -> None:
    for _ in range(200):
        key = new_secret()
        assert Config.from_env(production(SECRET_KEY=key)).secret_key == key
        assert estimated_strength(key) > 300
        hex_key = secrets.token_hex(16)  # 128 random bits
        assert Config.from_env(production(SECRET_KEY=hex_key)).secret_key == hex_key


def test_development_takes_any_previous_key() -> None:
    assert Config.from_env({"SECRET_KEY_PREVIOUS": "old"}).secret_key_previous == ("old",)
