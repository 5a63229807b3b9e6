"""Settings, read once from the environment (see the contract's Configuration table)."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

ENVIRONMENTS = ("development", "testing", "production")
LOG_FORMATS = ("text", "json")
MIN_SECRET_KEY_LENGTH = 32

# Only for development and testing: production refuses to start without its own key.
INSECURE_DEV_KEY = "insecure-development-key-do-not-use-in-production"

_DEFAULTS = {
    "development": {"TOKEN_EXPIRE_SECONDS": 900, "BCRYPT_LOG_ROUNDS": 4, "DATABASE_POOL_SIZE": 5},
    "testing": {"TOKEN_EXPIRE_SECONDS": 5, "BCRYPT_LOG_ROUNDS": 4, "DATABASE_POOL_SIZE": 5},
    "production": {"TOKEN_EXPIRE_SECONDS": 3600, "BCRYPT_LOG_ROUNDS": 12, "DATABASE_POOL_SIZE": 5},
}


class ConfigError(Exception):
    """The environment does not describe a configuration the server can run with."""


@dataclass(frozen=True)
class Config:
    env: str = "development"
    database_url: str = "sqlite:///widgetapi.db"
    secret_key: str = INSECURE_DEV_KEY
    token_expire_seconds: int = 900
    bcrypt_log_rounds: int = 4
    cors_allow_origins: tuple[str, ...] = ()
    # Database connections per process: one per server thread, plus one for background work.
    database_pool_size: int = 5
    # How often a process purges expired tokens from the blacklist, in the background.
    purge_interval_seconds: int = 600
    # Request and error logs: `text` lines or one JSON object a line.
    log_format: str = "text"
    metrics_enabled: bool = False
    # Set (by widgetapi.gunicorn_conf) when several processes serve: metrics are added up
    # from the files each process writes there (prometheus_client's multiprocess mode).
    metrics_directory: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Config:
        """Build the configuration from environment variables, or raise ConfigError."""
        env = environ.get("WIDGETAPI_ENV", "development").strip().lower()
        if env not in ENVIRONMENTS:
            raise ConfigError(f"WIDGETAPI_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}")
        defaults = _DEFAULTS[env]
        origins = environ.get("CORS_ALLOW_ORIGINS", "")
        return cls(
            env=env,
            database_url=environ.get("DATABASE_URL") or cls.database_url,
            secret_key=_secret_key(env, environ.get("SECRET_KEY")),
            token_expire_seconds=_whole_number(environ, "TOKEN_EXPIRE_SECONDS", defaults, 1, 10**8),
            bcrypt_log_rounds=_whole_number(environ, "BCRYPT_LOG_ROUNDS", defaults, 4, 31),
            cors_allow_origins=tuple(o.strip() for o in origins.split(",") if o.strip()),
            database_pool_size=_whole_number(environ, "DATABASE_POOL_SIZE", defaults, 2, 1000),
            log_format=_choice(environ, "LOG_FORMAT", LOG_FORMATS),
            metrics_enabled=_choice(environ, "METRICS_ENABLED", ("false", "true")) == "true",
            metrics_directory=environ.get("PROMETHEUS_MULTIPROC_DIR") or None,
        )


def _secret_key(env: str, value: str | None) -> str:
    if env != "production":
        return value or INSECURE_DEV_KEY
    if not value or len(value) < MIN_SECRET_KEY_LENGTH:
        raise ConfigError(
            f"SECRET_KEY must be set to at least {MIN_SECRET_KEY_LENGTH} characters in production "
            '(for example: python -c "import secrets; print(secrets.token_urlsafe(48))")'
        )
    return value


def _whole_number(
    environ: Mapping[str, str], name: str, defaults: Mapping[str, int], low: int, high: int
) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return defaults[name]
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}, not {raw!r}")
    return int(raw)


def _choice(environ: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """The variable's value, one of `choices` (the first is the default)."""
    raw = environ.get(name, "").strip().lower() or choices[0]
    if raw not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
    return raw
