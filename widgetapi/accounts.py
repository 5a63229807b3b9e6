"""Account changes that must never leave the service without an active administrator
(an administrator who is not disabled): demoting, disabling and deleting users.

Two such changes at once could each see the other administrator still active and both go
ahead, so the check and the write run serialised: on PostgreSQL under a transaction-level
advisory lock, on SQLite in a write transaction taken up front (BEGIN IMMEDIATE)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import peewee

from widgetapi.books import Book
from widgetapi.db import database
from widgetapi.models import Session, User
from widgetapi.widgets import Widget

# Any fixed number, distinct from operations.SCHEMA_LOCK.
ADMINISTRATORS_LOCK = 0x77696468


class LastAdministrator(Exception):
    """The change would leave no active administrator."""

    def __init__(self) -> None:
        super().__init__("The last active administrator cannot be demoted, disabled or deleted")


@contextmanager
def administrators_locked() -> Iterator[None]:
    """A transaction in which no other such change can run: the active administrators
    read in it stay so until it ends."""
    db = database.obj
    if isinstance(db, peewee.PostgresqlDatabase):
        with db.atomic():
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (ADMINISTRATORS_LOCK,))
            yield
    else:
        with db.atomic("IMMEDIATE"):
            yield


def _keep_an_active_administrator(user: User, stays_active_admin: bool) -> None:
    others = User.active_admins().where(User.id != user.id)
    if user.is_active_admin and not stays_active_admin and not others.exists():
        raise LastAdministrator()


def update_user(user: User, admin: bool | None = None, disabled: bool | None = None) -> User | None:
    """Promote or demote, disable or enable a user; the user as they are now, or None when
    the account is gone. Disabling ends every session of the user at once."""
    with administrators_locked():
        current = User.get_or_none(User.id == user.id)
        if current is None:
            return None
        new_admin = current.admin if admin is None else admin
        new_disabled = current.disabled if disabled is None else disabled
        _keep_an_active_administrator(current, new_admin and not new_disabled)
        User.update(admin=new_admin, disabled=new_disabled).where(User.id == current.id).execute()
        current.admin, current.disabled = new_admin, new_disabled
        if disabled:
            current.revoke_all_tokens()
    return current


def delete_user(user: User) -> bool:
    """Delete an account: its sessions end, its books go, its widgets stay without an owner. False when
    it was gone already."""
    with administrators_locked():
        current = User.get_or_none(User.id == user.id)
        if current is None:
            return False
        _keep_an_active_administrator(current, stays_active_admin=False)
        # The foreign keys say the same (ON DELETE SET NULL / CASCADE); doing it here does
        # not depend on them, nor on SQLite's foreign_keys pragma.
        # A widget that loses its owner is a new version (its ETag changes).
        Widget.update(owner=None, version=Widget.version + 1).where(Widget.owner == current.id).execute()
        Session.delete().where(Session.user == current.id).execute()
        Book.delete().where(Book.owner == current.id).execute()
        User.delete().where(User.id == current.id).execute()
    return True


def promote(email: str) -> bool | None:
    """Make an existing user an administrator (promoting never loses one): True when
    promoted, False when already an administrator, None when there is no such user."""
    user = User.by_email(email)
    if user is None:
        return None
    if user.admin:
        return False
    return User.update(admin=True).where((User.id == user.id) & (User.admin == False)).execute() > 0  # noqa: E712
