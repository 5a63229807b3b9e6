"""The counts throttling keeps (widgetapi/throttle.py says the rules): failed password
checks per email and client address, and requests to the password endpoints per address
and minute. They live in the database, written with upserts, so that concurrent requests
on any number of processes count exactly."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import cast

import peewee

from widgetapi import models
from widgetapi.db import database
from widgetapi.models import BaseModel


class LoginFailures(BaseModel):
    """Throttling (widgetapi/throttle.py): failed password checks for one email from one
    client address, and until when that pair is locked out."""

    email = peewee.CharField(max_length=254)
    address = peewee.CharField(max_length=100)
    failures = peewee.IntegerField(default=0)
    last_failure_at = peewee.DateTimeField(index=True)
    locked_until = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "login_failures"
        indexes = ((("email", "address"), True),)

    @classmethod
    def reserve(cls, email: str, address: str, now: datetime, forget_before: datetime,
                lockout: Callable[[int], timedelta | None]) -> tuple[bool, datetime | None]:
        """Count one more failure (a first one when the last is older than `forget_before`)
        unless the pair is locked out at `now`, and lock it until `now + lockout(count)` when
        that is not None; one atomic step under any concurrency (the row stays locked until
        the end). Returns whether it counted, and the lock: the one that refused it, or the
        one it set (None if none)."""
        with database.atomic():
            restart = peewee.Case(None, [(cls.last_failure_at < forget_before, 1)], cls.failures + 1)
            unlocked = cls.locked_until.is_null() | (cls.locked_until <= now)
            cls.insert(email=email, address=address, failures=1, last_failure_at=now).on_conflict(
                conflict_target=[cls.email, cls.address], where=unlocked,
                update={cls.failures: restart, cls.last_failure_at: now}).execute()
            row = cls.get((cls.email == email) & (cls.address == address))
            if row.locked_until is not None and row.locked_until > now:
                return False, cast(datetime, row.locked_until)
            duration = lockout(row.failures)
            if duration is None:
                return True, None
            cls.lock(email, address, now + duration)
            return True, now + duration

    @classmethod
    def release(cls, email: str, address: str, lock: datetime | None) -> None:
        """Take back a reserved failure, and the lock it set (when no other replaced it)."""
        pair = (cls.email == email) & (cls.address == address)
        with database.atomic():
            cls.update(failures=cls.failures - 1).where(pair & (cls.failures > 0)).execute()
            if lock is not None:
                cls.update(locked_until=None).where(pair & (cls.locked_until == lock)).execute()

    @classmethod
    def lock(cls, email: str, address: str, until: datetime) -> None:
        cls.update(locked_until=until).where(
            (cls.email == email) & (cls.address == address)
            & (cls.locked_until.is_null() | (cls.locked_until < until))).execute()

    @classmethod
    def locked_until_for(cls, email: str, address: str) -> datetime | None:
        query = cls.select(cls.locked_until).where((cls.email == email) & (cls.address == address))
        return cast("datetime | None", query.scalar())

    @classmethod
    def forget(cls, email: str, address: str) -> None:
        cls.delete().where((cls.email == email) & (cls.address == address)).execute()

    @classmethod
    def purge(cls, before: datetime) -> int:
        stale = (cls.last_failure_at < before) & (cls.locked_until.is_null() | (cls.locked_until < before))
        return int(cls.delete().where(stale).execute())


class AuthRequests(BaseModel):
    """Throttling: requests to the password endpoints per client address and minute."""

    address = peewee.CharField(max_length=100)
    minute = peewee.BigIntegerField()  # whole minutes since the epoch
    requests = peewee.IntegerField(default=0)

    class Meta:
        table_name = "auth_requests"
        indexes = ((("address", "minute"), True),)

    @classmethod
    def count_one(cls, address: str, minute: int) -> int:
        """Count a request, atomically under concurrency; returns the minute's count so far."""
        with database.atomic():
            cls.insert(address=address, minute=minute, requests=1).on_conflict(
                conflict_target=[cls.address, cls.minute], update={cls.requests: cls.requests + 1}).execute()
            return int(cls.select(cls.requests).where((cls.address == address) & (cls.minute == minute))
                       .scalar() or 1)

    @classmethod
    def purge(cls, before_minute: int) -> int:
        return int(cls.delete().where(cls.minute < before_minute).execute())


models.register(LoginFailures)
models.register(AuthRequests)
