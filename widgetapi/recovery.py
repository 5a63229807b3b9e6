"""Password reset by email (OWASP ASVS V2.5): the rules of reset tokens.

A request queues the same outbox row whatever the email (registered, unknown, disabled, over its
mail limit), so it does the same work and answers alike. The sender decides when it delivers:
only an enabled account is mailed, at most MAILS_PER_HOUR times an hour, and the token is minted
then (a retried delivery mints a new one). A token is 256 random bits, URL-safe; the database
keeps its SHA-256 only. It works once, until it expires, and only while it is the user's newest
and the user's password is still the one it was minted against.
"""
from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import peewee

from widgetapi import outbox
from widgetapi.config import Config
from widgetapi.db import database
from widgetapi.mail import compose
from widgetapi.models import BaseModel, User, register
from widgetapi.timeutil import format_datetime, utcnow

KIND = "password_reset"
SUBJECT = "Reset your widgetapi password"
MAILS_PER_HOUR = 3
TOKEN_BYTES = 32
# Reset rows are kept this long (they count against the hourly limit for one hour).
KEEP_FOR = timedelta(days=1)


class PasswordReset(BaseModel):
    """A reset token minted for a user: only its SHA-256 is kept; `password_hash` is what the
    user's hash was then, so any password change since makes the token fail."""

    user = peewee.ForeignKeyField(User, backref="password_resets", on_delete="CASCADE")
    token_hash = peewee.CharField(max_length=64, unique=True)
    created_at = peewee.DateTimeField(default=utcnow, index=True)
    expires_at = peewee.DateTimeField()
    password_hash = peewee.CharField(max_length=60)
    used_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "password_resets"


register(PasswordReset)


class InvalidResetToken(Exception):
    """Unknown, used, superseded or expired, or its account is disabled or changed its password."""


@dataclass
class ResetMail:
    """A composed mail, and how to take its token back should the delivery fail."""

    message: object  # email.message.EmailMessage
    reset_id: int

    def undo(self) -> None:
        PasswordReset.delete().where(PasswordReset.id == self.reset_id).execute()


def request_reset(email: str) -> outbox.OutboxMail:
    """Queue a reset mail for `email`, whoever it belongs to (the sender decides)."""
    return outbox.OutboxMail.queue(KIND, email)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def reset_mail(config: Config) -> Callable[[outbox.OutboxMail], ResetMail | None]:
    """The outbox sender's composer for KIND mails."""

    def composer(mail: outbox.OutboxMail) -> ResetMail | None:
        minted = mint(mail.recipient, config.password_reset_expire_seconds)
        if minted is None:
            return None
        user, token, reset = minted
        body = reset_body(config, token, reset.expires_at)
        return ResetMail(compose(config.mail_from, user.email, SUBJECT, body), reset.id)

    return composer


def mint(email: str, lifetime: int) -> tuple[User, str, PasswordReset] | None:
    """A new token for the enabled account `email`, unless it had MAILS_PER_HOUR in the last
    hour; None when there is nobody to mail."""
    with write_transaction():
        user = User.by_email(email)
        if user is None or user.disabled:
            return None
        now = utcnow()
        if _lock_user(user) is None:
            return None
        recent = PasswordReset.select().where(
            (PasswordReset.user == user.id) & (PasswordReset.created_at > now - timedelta(hours=1))).count()
        if recent >= MAILS_PER_HOUR:
            return None
        token = secrets.token_urlsafe(TOKEN_BYTES)
        reset = PasswordReset.create(user=user.id, token_hash=hash_token(token), created_at=now,
                                     expires_at=now + timedelta(seconds=lifetime),
                                     password_hash=user.password_hash)
    return user, token, reset


def reset_body(config: Config, token: str, expires_at: datetime) -> str:
    page = config.password_reset_url
    link = (f"Choose a new password on this page:\n\n    {page.replace('{token}', token)}\n\n"
            "or use this reset token" if page else "Your reset token")
    minutes = config.password_reset_expire_seconds // 60
    return (
        "Someone, hopefully you, asked to reset the password of your widgetapi account.\n\n"
        f"{link}:\n\n    {token}\n\n"
        f"It works once, until {format_datetime(expires_at)} ({minutes} minutes from when it was sent).\n"
        "If you did not ask for this, ignore this mail: your password stays as it is.\n")


def find(token: str) -> tuple[PasswordReset, User]:
    """The reset row and account of a token that works now; else InvalidResetToken."""
    reset = PasswordReset.get_or_none(PasswordReset.token_hash == hash_token(token))
    if reset is None:
        raise InvalidResetToken()
    user = User.get_or_none(User.id == reset.user_id)  # type: ignore[attr-defined]
    if user is None or not _usable(reset, user):
        raise InvalidResetToken()
    return reset, user


def consume(reset: PasswordReset, user: User, password_hash: str) -> None:
    """Set the new password and use the token up, in the caller's transaction; InvalidResetToken
    if it stopped working meanwhile (another reset, a password change, a newer token)."""
    now = utcnow()
    newer = PasswordReset.select().where((PasswordReset.user == user.id) & (PasswordReset.id > reset.id))
    used = PasswordReset.update(used_at=now).where(
        (PasswordReset.id == reset.id) & PasswordReset.used_at.is_null() & (PasswordReset.expires_at > now))
    changed = User.update(password_hash=password_hash).where(
        (User.id == user.id) & (User.password_hash == reset.password_hash) & (User.disabled == False))  # noqa: E712
    if newer.exists() or not used.execute() or not changed.execute():
        raise InvalidResetToken()
    user.password_hash = password_hash


def purge_old() -> int:
    return int(PasswordReset.delete().where(PasswordReset.created_at < utcnow() - KEEP_FOR).execute())


def _usable(reset: PasswordReset, user: User) -> bool:
    mine = PasswordReset.user == user.id
    newest = PasswordReset.select(peewee.fn.MAX(PasswordReset.id)).where(mine).scalar()
    return (reset.used_at is None and reset.expires_at > utcnow() and not user.disabled
            and user.password_hash == reset.password_hash and newest == reset.id)


@contextmanager
def write_transaction() -> Iterator[None]:
    """A transaction that reads, then writes what it read: on SQLite with the write lock taken
    up front (two that both read first could not both upgrade: one would fail at once with
    "database is locked"); on PostgreSQL a plain one (mint locks the user's row)."""
    if isinstance(database.obj, peewee.SqliteDatabase):
        with database.atomic("IMMEDIATE"):
            yield
    else:
        with database.atomic():
            yield


def _lock_user(user: User) -> User | None:
    query = User.select(User.id).where(User.id == user.id)
    if not isinstance(database.obj, peewee.SqliteDatabase):
        query = query.for_update()
    return query.first()
