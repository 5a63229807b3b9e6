"""Settings, read once from the environment (see the contract's Configuration table)."""
from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from widgetapi import key_strength

ENVIRONMENTS = ("development", "testing", "production")
LOG_FORMATS = ("text", "json")
JWT_ALGORITHMS = ("HS256", "EdDSA")

# Only for development and testing: production refuses to start without its own key.
INSECURE_DEV_KEY = "insecure-development-key-do-not-use-in-production"

_DEFAULTS = {
    "development": {"TOKEN_EXPIRE_SECONDS": 900, "BCRYPT_LOG_ROUNDS": 4, "DATABASE_POOL_SIZE": 5},
    "testing": {"TOKEN_EXPIRE_SECONDS": 5, "BCRYPT_LOG_ROUNDS": 4, "DATABASE_POOL_SIZE": 5},
    "production": {"TOKEN_EXPIRE_SECONDS": 3600, "BCRYPT_LOG_ROUNDS": 12, "DATABASE_POOL_SIZE": 5},
}


_BOOK_DEFAULTS = {"MAX_BOOKS_PER_USER": 1000}
_THROTTLE_DEFAULTS = {"LOGIN_MAX_FAILURES": 5, "AUTH_RATE_PER_MINUTE": 30, "PASSWORD_HASH_CONCURRENCY": 0}


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
    # How often a process purges the sessions of expired tokens, in the background.
    purge_interval_seconds: int = 600
    # Request and error logs: `text` lines or one JSON object a line.
    log_format: str = "text"
    metrics_enabled: bool = False
    # Set (by widgetapi.gunicorn_conf) when several processes serve: metrics are added up
    # from the files each process writes there (prometheus_client's multiprocess mode).
    metrics_directory: str | None = None
    # Peers (addresses or CIDR ranges) whose X-Forwarded-For/-Proto/-Host are believed.
    trusted_proxies: tuple[str, ...] = ()
    # Host names (and host:port) the API answers for; none: any (development and testing).
    allowed_hosts: tuple[str, ...] = ()
    # Throttling (widgetapi/throttle.py): failed logins per email and client address before a
    # lockout, and login/registration/password-change requests per client address a minute.
    login_max_failures: int = 5
    auth_rate_per_minute: int = 30
    # Password hashes at once per process; 0: half the server's threads (see hash_concurrency).
    password_hash_concurrency: int = 0
    # Books one account may keep (widgetapi/books.py).
    max_books_per_user: int = 1000

    @property
    def half_the_threads(self) -> int:
        """Half the server's threads, at least 1. The pool has a connection per thread plus
        one (`widgetapi serve` sizes it so, and the README asks the same of gunicorn and
        waitress-serve), so the threads are DATABASE_POOL_SIZE - 1."""
        return max(1, (self.database_pool_size - 1) // 2)

    @property
    def hash_concurrency(self) -> int:
        """PASSWORD_HASH_CONCURRENCY, or half the server's threads."""
        return self.password_hash_concurrency or self.half_the_threads

    @property
    def hash_waiting(self) -> int:
        """How many password checks may wait for a slot: as many as hash, at most, and only
        within the half of the threads password work may take. A waiting request holds a
        server thread (WSGI), so waiting beyond that half would let a login flood take the
        threads reads need; by default all of that half hashes and nothing waits."""
        return min(self.hash_concurrency, max(0, self.half_the_threads - self.hash_concurrency))
    # Token keys (widgetapi/keys.py): older HS256 secrets that still verify, never sign; or
    # EdDSA with an Ed25519 private key and older public keys that still verify.
    secret_key_previous: tuple[str, ...] = ()
    jwt_algorithm: str = "HS256"
    jwt_private_key_file: str = ""
    jwt_previous_public_key_files: tuple[str, ...] = ()
    token_issuer: str = "widgetapi"
    token_audience: str = "widgetapi"
    # Mail (widgetapi/mail.py, widgetapi/outbox.py): where mail goes (`log`, an smtp:// or
    # smtps:// URL; None: no mail, so no password reset), its sender, and how long to wait
    # on the SMTP server per step. SSL_CERT_FILE: a CA trusted besides the system's.
    mail_url: str | None = "log"
    mail_from: str = "widgetapi@localhost"
    mail_timeout_seconds: int = 30
    ssl_cert_file: str | None = None
    # Not from the environment: the first retry's delay (doubling, up to an hour) and how
    # long an idle sender sleeps at most (it wakes sooner for mail this process queues, and
    # when the next retry or an expired claim is due).
    mail_retry_seconds: float = 30.0
    mail_poll_seconds: float = 30.0
    # Password reset (widgetapi/recovery.py): the front end's page with `{token}`, and how
    # long a reset token works.
    password_reset_url: str | None = None
    password_reset_expire_seconds: int = 1800

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
            **_token_keys(env, environ),
            token_issuer=environ.get("TOKEN_ISSUER", "").strip() or cls.token_issuer,
            token_audience=environ.get("TOKEN_AUDIENCE", "").strip() or cls.token_audience,
            token_expire_seconds=_whole_number(environ, "TOKEN_EXPIRE_SECONDS", defaults, 1, 10**8),
            bcrypt_log_rounds=_whole_number(environ, "BCRYPT_LOG_ROUNDS", defaults, 4, 31),
            cors_allow_origins=_list(origins),
            database_pool_size=_whole_number(environ, "DATABASE_POOL_SIZE", defaults, 2, 1000),
            log_format=_choice(environ, "LOG_FORMAT", LOG_FORMATS),
            metrics_enabled=_choice(environ, "METRICS_ENABLED", ("false", "true")) == "true",
            metrics_directory=environ.get("PROMETHEUS_MULTIPROC_DIR") or None,
            trusted_proxies=parse_trusted_proxies(environ.get("TRUSTED_PROXIES", "")),
            allowed_hosts=_allowed_hosts(env, environ.get("ALLOWED_HOSTS", "")),
            login_max_failures=_whole_number(environ, "LOGIN_MAX_FAILURES", _THROTTLE_DEFAULTS, 1, 10**6),
            auth_rate_per_minute=_whole_number(environ, "AUTH_RATE_PER_MINUTE", _THROTTLE_DEFAULTS, 1, 10**6),
            password_hash_concurrency=_whole_number(
                environ, "PASSWORD_HASH_CONCURRENCY", _THROTTLE_DEFAULTS, 1, 1000),
            max_books_per_user=_whole_number(environ, "MAX_BOOKS_PER_USER", _BOOK_DEFAULTS, 0, 10**7),
            **_mail_settings(env, environ),
        )


_MAIL_DEFAULTS = {"MAIL_TIMEOUT_SECONDS": 30, "PASSWORD_RESET_EXPIRE_SECONDS": 1800}


def _mail_settings(env: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """MAIL_URL (checked by mail.parse_mail_url), MAIL_FROM, PASSWORD_RESET_URL and the rest."""
    from widgetapi.mail import parse_mail_url  # no widgetapi imports at mail.py's top: no cycle

    url = environ.get("MAIL_URL", "").strip() or ("log" if env != "production" else None)
    if url is not None:
        try:
            parse_mail_url(url)
        except ValueError as error:
            raise ConfigError(str(error)) from None
    if env == "production" and url == "log":
        raise ConfigError("MAIL_URL=log writes every mail, reset tokens included, to the log, which "
                          "production refuses: set MAIL_URL to your SMTP server (smtp://user:password@host:587)")
    sender = environ.get("MAIL_FROM", "").strip()
    if env == "production" and url is not None and not sender:
        raise ConfigError("MAIL_FROM must be set in production with MAIL_URL: the address mail is sent from")
    if sender and not _plausible_address(sender):
        raise ConfigError(f"MAIL_FROM must be an email address such as widgetapi@example.com, not {sender!r}")
    reset_url = environ.get("PASSWORD_RESET_URL", "").strip() or None
    if reset_url and ("{token}" not in reset_url or not reset_url.startswith(("http://", "https://"))):
        raise ConfigError("PASSWORD_RESET_URL must be an http or https URL with {token} where the reset "
                          f"token goes, not {reset_url!r}")
    return {
        "mail_url": url,
        "mail_from": sender or Config.mail_from,
        "mail_timeout_seconds": _whole_number(environ, "MAIL_TIMEOUT_SECONDS", _MAIL_DEFAULTS, 1, 600),
        "ssl_cert_file": environ.get("SSL_CERT_FILE", "").strip() or None,
        "password_reset_url": reset_url,
        "password_reset_expire_seconds": _whole_number(
            environ, "PASSWORD_RESET_EXPIRE_SECONDS", _MAIL_DEFAULTS, 60, 7 * 24 * 3600),
    }


def _plausible_address(value: str) -> bool:
    local, at, domain = value.rpartition("@")
    return bool(at and local and domain) and not any(c.isspace() or ord(c) < 32 for c in value)


def _list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _token_keys(env: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings of the configured algorithm alone; keys.py reads the key files."""
    algorithm = _jwt_algorithm(environ.get("JWT_ALGORITHM", ""))
    if algorithm == "EdDSA":
        return {
            "jwt_algorithm": algorithm,
            "secret_key": "",  # signs nothing: HS256 tokens are refused under EdDSA
            "jwt_private_key_file": _private_key_file(environ.get("JWT_PRIVATE_KEY_FILE", "")),
            "jwt_previous_public_key_files": _list(environ.get("JWT_PREVIOUS_PUBLIC_KEY_FILES", "")),
        }
    for name in ("JWT_PRIVATE_KEY_FILE", "JWT_PREVIOUS_PUBLIC_KEY_FILES"):
        if environ.get(name, "").strip():  # a half-done switch to EdDSA: say so rather than ignore it
            raise ConfigError(f"{name} is set but JWT_ALGORITHM is HS256: set JWT_ALGORITHM=EdDSA to use it")
    return {
        "jwt_algorithm": algorithm,
        "secret_key": _secret_key(env, environ.get("SECRET_KEY")),
        "secret_key_previous": _previous_secret_keys(env, environ.get("SECRET_KEY_PREVIOUS", "")),
    }


def _jwt_algorithm(value: str) -> str:
    by_name = {name.lower(): name for name in JWT_ALGORITHMS}
    if value.strip().lower() not in by_name and value.strip():
        raise ConfigError(f"JWT_ALGORITHM must be one of {', '.join(JWT_ALGORITHMS)}, not {value.strip()!r}")
    return by_name.get(value.strip().lower(), "HS256")


def _secret_key(env: str, value: str | None) -> str:
    if env != "production":
        return value or INSECURE_DEV_KEY
    if not value:
        raise ConfigError(f"SECRET_KEY must be set in production{key_strength.HOW_TO_MAKE_ONE}")
    return _strong_secret("SECRET_KEY", value)


def _previous_secret_keys(env: str, value: str) -> tuple[str, ...]:
    """Older secrets are held to the same standard in production: a weak one that still
    verifies would let anyone who guesses it forge tokens, as if it were the current key."""
    keys = _list(value)
    if env == "production":
        for number, key in enumerate(keys, start=1):
            _strong_secret(f"SECRET_KEY_PREVIOUS (key {number} of {len(keys)})", key)
    return keys


def _strong_secret(name: str, value: str) -> str:
    reason = key_strength.weakness(name, value, INSECURE_DEV_KEY)
    if reason:
        raise ConfigError(reason)
    return value


def parse_trusted_proxies(value: str) -> tuple[str, ...]:
    """TRUSTED_PROXIES as a tuple of addresses and CIDR ranges, or ConfigError."""
    proxies = tuple(item.strip() for item in value.split(",") if item.strip())
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ConfigError(f"TRUSTED_PROXIES must list addresses or CIDR ranges, not {proxy!r}") from None
    return proxies


# An ALLOWED_HOSTS entry: `*`, or a host name (`.example.com`: it and its subdomains), an
# IPv4 address or a bracketed IPv6 one, with an optional port.
_ALLOWED_HOST = re.compile(r"\*|\.?[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?(?::[0-9]{1,5})?"
                           r"|\[[0-9a-f:.]{2,45}\](?::[0-9]{1,5})?")


def _allowed_hosts(env: str, value: str) -> tuple[str, ...]:
    hosts = tuple(host.lower() for host in _list(value))
    for host in hosts:
        if not _ALLOWED_HOST.fullmatch(host):
            raise ConfigError(f"ALLOWED_HOSTS must list host names or host:port (`.example.com` for "
                              f"its subdomains), not {host!r}")
    if env == "production" and not hosts:
        raise ConfigError("ALLOWED_HOSTS must be set in production: the host names clients reach the "
                          "API by, comma-separated (e.g. api.example.com)")
    return hosts


def _private_key_file(value: str) -> str:
    if not value.strip():
        raise ConfigError("JWT_ALGORITHM=EdDSA needs JWT_PRIVATE_KEY_FILE, an Ed25519 private key in PEM: "
                          "`widgetapi gen-key --algorithm EdDSA` writes one")
    return value.strip()


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
