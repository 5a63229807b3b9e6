"""The mail settings (MAIL_URL, MAIL_FROM, PASSWORD_RESET_URL, ...): read as the contract says,
and production refusing `log` like a weak key, in one line and exit status 2 from `widgetapi
serve` and from the WSGI entry point."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from servers import environment

from widgetapi.config import Config, ConfigError

STRONG = "Fq7-wX2zLp9_Rt4mVb8kNc3hJs6yGd5e"  # a key production takes


def production(**settings: str) -> dict[str, str]:
    return {"WIDGETAPI_ENV": "production", "SECRET_KEY": STRONG, "ALLOWED_HOSTS": "api.example.com",
            **settings}


def refusal(environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as raised:
        Config.from_env(environ)
    assert "\n" not in str(raised.value)
    return str(raised.value)


def test_development_and_testing_write_mail_to_the_log_and_production_has_none() -> None:
    for env in ("development", "testing"):
        config = Config.from_env({"WIDGETAPI_ENV": env})
        assert (config.mail_url, config.mail_from) == ("log", "widgetapi@localhost")
        assert (config.password_reset_url, config.password_reset_expire_seconds) == (None, 1800)
    assert Config.from_env(production()).mail_url is None


def test_the_mail_settings_are_read() -> None:
    config = Config.from_env(production(
        MAIL_URL="smtp://user:pw@mail.example.com:587", MAIL_FROM="accounts@example.com",
        MAIL_TIMEOUT_SECONDS="12", SSL_CERT_FILE="/etc/ssl/private-ca.pem",
        PASSWORD_RESET_URL="https://app.example.com/reset#{token}", PASSWORD_RESET_EXPIRE_SECONDS="600"))
    assert config.mail_url == "smtp://user:pw@mail.example.com:587"
    assert (config.mail_from, config.mail_timeout_seconds) == ("accounts@example.com", 12)
    assert config.ssl_cert_file == "/etc/ssl/private-ca.pem"
    assert config.password_reset_url == "https://app.example.com/reset#{token}"
    assert config.password_reset_expire_seconds == 600


def test_production_refuses_mail_in_the_log() -> None:
    message = refusal(production(MAIL_URL="log", MAIL_FROM="a@example.com"))
    assert message.startswith("MAIL_URL=log") and "production" in message


def test_production_needs_mail_from_with_mail_url() -> None:
    assert "MAIL_FROM" in refusal(production(MAIL_URL="smtps://u:pw@mail.example.com"))


@pytest.mark.parametrize(("settings", "names"), [
    ({"MAIL_URL": "http://u:hunter2@mail.example.com"}, "MAIL_URL"),
    ({"MAIL_URL": "smtp://u:hunter2@relay:25?starttls=off"}, "MAIL_URL"),
    ({"MAIL_FROM": "not an address"}, "MAIL_FROM"),
    ({"PASSWORD_RESET_URL": "https://app.example.com/reset"}, "PASSWORD_RESET_URL"),
    ({"PASSWORD_RESET_URL": "javascript:alert({token})"}, "PASSWORD_RESET_URL"),
    ({"PASSWORD_RESET_EXPIRE_SECONDS": "0"}, "PASSWORD_RESET_EXPIRE_SECONDS"),
    ({"MAIL_TIMEOUT_SECONDS": "soon"}, "MAIL_TIMEOUT_SECONDS"),
])
def test_mail_settings_that_cannot_work_are_refused(settings: dict[str, str], names: str) -> None:
    message = refusal({"WIDGETAPI_ENV": "development", **settings})
    assert names in message and "hunter2" not in message


SERVE, WSGI = ["-m", "widgetapi.cli", "serve", "--port", "0"], ["-c", "import widgetapi.wsgi"]


@pytest.mark.parametrize("command", [SERVE, WSGI])
def test_serving_in_production_with_mail_in_the_log_is_one_line_and_exit_2(tmp_path: Path,
                                                                           command: list[str]) -> None:
    env = {**production(MAIL_URL="log", MAIL_FROM="a@example.com"),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    done = subprocess.run([sys.executable, *command], env=environment(env), cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    expected = refusal(production(MAIL_URL="log", MAIL_FROM="a@example.com"))
    assert done.stderr.splitlines() == [f"widgetapi: {expected}"]
    assert done.stdout == ""
