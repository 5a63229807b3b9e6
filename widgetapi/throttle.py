"""Throttling of the password endpoints, shared by every process on the database.

- Per client address: at most AUTH_RATE_PER_MINUTE requests a minute to /auth/login,
  /auth/register, /auth/password, DELETE /auth/user and the password-reset endpoints (the
  `throttled` hook on their responders).
- Per email and client address: after LOGIN_MAX_FAILURES failed password checks, a lockout
  of 60 s that doubles with each further failure, up to 15 minutes; a success ends it.
  Each check is counted before it runs (reserve_password_check), so attempts in flight
  count: at most LOGIN_MAX_FAILURES checks per lockout window, whatever the concurrency.

Both answer 429 with `Retry-After`. A client is its address, except that an IPv6 client is
its /64 network: one subscriber or host gets a whole /64, so an attacker could otherwise
take a fresh address for every guess. An IPv4-mapped IPv6 address is its IPv4 address.
The counts live in the database (`AuthRequests`,
`LoginFailures` in throttle_counts.py), written with upserts, so concurrent requests on any number of
processes count exactly. Code that checks a password calls the functions below.
"""
from __future__ import annotations

import ipaddress
import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import falcon

from widgetapi.config import Config
from widgetapi.passwords import PasswordHashingBusy
from widgetapi.throttle_counts import AuthRequests, LoginFailures
from widgetapi.timeutil import utcnow

log = logging.getLogger(__name__)

FIRST_LOCKOUT = timedelta(seconds=60)
LONGEST_LOCKOUT = timedelta(minutes=15)
# A failure this much older than the next one is forgotten: the count starts again.
FAILURE_MEMORY = timedelta(hours=1)
MINUTE = 60
MAX_ADDRESS = 100
IPV6_CLIENT_PREFIX = 64


def client_key(address: str) -> str:
    """What the throttle counts `address` as: an IPv4 address itself, an IPv6 address its
    /64 network (e.g. `2001:db8:1:2::/64`), anything else its first MAX_ADDRESS characters."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # no zone: fe80::1%eth0
    except ValueError:
        return address[:MAX_ADDRESS]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_CLIENT_PREFIX), strict=False))
    return str(ip)


class TooManyAttempts(falcon.HTTPTooManyRequests):
    """429 with `Retry-After` and the contract's message naming the same whole seconds."""

    def __init__(self, seconds: float) -> None:
        wait = max(1, math.ceil(seconds))
        super().__init__(description=f"Too many attempts. Try again in {wait} seconds.", retry_after=wait)


def throttled(action: str) -> Callable[..., None]:
    """falcon.before hook factory: count the request against its client address's
    AUTH_RATE_PER_MINUTE, refusing it with 429 beyond that. `action` names the endpoint in
    the log. The resource keeps its Config as `_config`, as widgetapi's resources do."""

    def hook(req: falcon.Request, resp: falcon.Response, resource: Any, params: dict) -> None:
        check_rate(resource._config, req.context.client.address, action)

    return hook


def check_rate(config: Config, address: str, action: str = "auth", now: datetime | None = None) -> None:
    """Count one password-endpoint request from `address`; TooManyAttempts past the rate."""
    moment = _epoch(now or utcnow())
    minute = int(moment // MINUTE)
    if AuthRequests.count_one(client_key(address), minute) > config.auth_rate_per_minute:
        log.warning("%s throttled: more than %d requests a minute from %s",
                    action, config.auth_rate_per_minute, address)
        raise TooManyAttempts((minute + 1) * MINUTE - moment)


def check_lockout(email: str, address: str, now: datetime | None = None) -> None:
    """Raise TooManyAttempts while `email` is locked out for `address`."""
    until = LoginFailures.locked_until_for(email, client_key(address))
    moment = now or utcnow()
    if until is not None and until > moment:
        raise TooManyAttempts((until - moment).total_seconds())


@dataclass(frozen=True)
class Reservation:
    """A password check counted as a failure before it runs (reserve_password_check)."""

    email: str
    key: str
    lock: datetime | None  # the lockout it set, when it was the one that reached the limit

    @contextmanager
    def checking(self) -> Iterator[None]:
        """Around the password check: a check that never ran (every hashing slot busy: 503)
        is taken back, so that load on the server never locks anyone out."""
        try:
            yield
        except PasswordHashingBusy:
            LoginFailures.release(self.email, self.key, self.lock)
            raise


def reserve_password_check(config: Config, email: str, address: str,
                           now: datetime | None = None) -> Reservation:
    """Call before checking a password given for `email` from `address` (a login, or the
    current password of a password change or account deletion): raises TooManyAttempts
    while the pair is locked out, so a locked-out pair costs no bcrypt work; else counts
    the attempt as a failure until record_successful_login says otherwise.

    Counting before the check is what makes attempts in flight count: the
    LOGIN_MAX_FAILURES-th attempt locks the pair at once (60 s, doubling with each further
    failure, at most 15 minutes), so however many arrive together, at most that many
    passwords are checked; a success lifts the lock."""
    moment = now or utcnow()

    def lockout(failures: int) -> timedelta | None:
        excess = failures - config.login_max_failures
        return None if excess < 0 else min(FIRST_LOCKOUT * 2 ** min(excess, 16), LONGEST_LOCKOUT)

    key = client_key(address)
    counted, lock = LoginFailures.reserve(email, key, moment, moment - FAILURE_MEMORY, lockout)
    if not counted and lock is not None:
        raise TooManyAttempts((lock - moment).total_seconds())
    if lock is not None:
        log.warning("login for %s from %s locked out until %s", email, address, lock.isoformat())
    return Reservation(email, key, lock)


def record_successful_login(email: str, address: str) -> None:
    """The right password was given: forget the pair's failures (this attempt's too) and
    any lockout."""
    LoginFailures.forget(email, client_key(address))


def clear_lockouts(email: str) -> None:
    """The account's password was reset: forget its failures and lockouts from every address."""
    LoginFailures.delete().where(LoginFailures.email == email).execute()


def purge_stale(now: datetime | None = None) -> int:
    """Delete throttling rows that no longer count; returns how many went."""
    moment = now or utcnow()
    minutes = AuthRequests.purge(int(_epoch(moment) // MINUTE) - 1)
    return minutes + LoginFailures.purge(moment - FAILURE_MEMORY)


def _epoch(moment: datetime) -> float:
    return moment.replace(tzinfo=timezone.utc).timestamp()  # naive UTC, like the database's
