"""Peewee models. They carry their own queries as small class methods."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Generic, TypeVar, cast

import peewee

from widgetapi.db import database
from widgetapi.statements import Param, Statement, placeholder
from widgetapi.timeutil import utcnow

M = TypeVar("M", bound=peewee.Model)


class BaseModel(peewee.Model):
    id = peewee.AutoField()

    class Meta:
        database = database


class User(BaseModel):
    email = peewee.CharField(max_length=254, unique=True)
    password_hash = peewee.CharField(max_length=60)
    public_id = peewee.UUIDField(unique=True, default=uuid.uuid4)
    admin = peewee.BooleanField(default=False)
    registered_on = peewee.DateTimeField(default=utcnow)
    # Logout everywhere: tokens issued at or before this time are refused.
    tokens_valid_after = peewee.DateTimeField(null=True)
    token_revoked: bool  # only on users from for_token()

    class Meta:
        table_name = "users"

    @classmethod
    def by_email(cls, email: str) -> User | None:
        return cast("User | None", cls.get_or_none(cls.email == email))

    @classmethod
    def first_admin(cls) -> User | None:
        return cast("User | None", cls.select().where(cls.admin == True).order_by(cls.id).first())  # noqa: E712

    @classmethod
    def for_token(cls, public_id: uuid.UUID, jti: str) -> User | None:
        """The token's user, with `token_revoked` telling whether the token was logged out:
        one query for both, since every authenticated request asks."""
        return USER_FOR_TOKEN.first(public_id=public_id, jti=jti)

    @classmethod
    def for_token_query(cls, public_id: uuid.UUID, jti: str) -> peewee.ModelSelect[User]:
        revoked = RevokedToken.select(peewee.SQL("1")).where(RevokedToken.jti == jti)
        query = cls.select(cls, peewee.fn.EXISTS(revoked).alias("token_revoked"))
        return query.where(cls.public_id == public_id)

    def refuses_token(self, issued_at: datetime) -> bool:
        """Whether a token issued at `issued_at` is logged out: on its own (a user from
        for_token()) or by a logout everywhere since."""
        if getattr(self, "token_revoked", False):
            return True
        return self.tokens_valid_after is not None and issued_at <= self.tokens_valid_after

    def token_issue_time(self) -> datetime:
        """When a token issued now says it was issued: after the last logout everywhere,
        even one in this very microsecond."""
        now = utcnow()
        if self.tokens_valid_after is not None and now <= self.tokens_valid_after:
            return self.tokens_valid_after + timedelta(microseconds=1)
        return now

    def revoke_all_tokens(self, issued_at_least: datetime) -> None:
        """Log out everywhere: refuse every token issued until now, and at least those
        issued until `issued_at_least` (the calling token's iat, should this clock lag)."""
        cutoff = max(utcnow(), issued_at_least)
        unset_or_earlier = (User.tokens_valid_after.is_null()) | (User.tokens_valid_after < cutoff)
        User.update(tokens_valid_after=cutoff).where((User.id == self.id) & unset_or_earlier).execute()


class Widget(BaseModel):
    name = peewee.CharField(max_length=100, unique=True)
    info_url = peewee.CharField(max_length=255)
    created_at = peewee.DateTimeField(default=utcnow)
    deadline = peewee.DateTimeField()
    owner = peewee.ForeignKeyField(User, backref="widgets")

    class Meta:
        table_name = "widgets"

    @classmethod
    def with_owner(cls) -> peewee.ModelSelect[Widget]:
        """Widgets joined with what is shown of their owners (None when there is no owner),
        in creation order: one query for any number."""
        owner = (User.id, User.email, User.public_id)
        return cls.select(cls, *owner).join(User, peewee.JOIN.LEFT_OUTER).order_by(cls.id)

    @classmethod
    def by_name(cls, name: str) -> Widget | None:
        return WIDGET_BY_NAME.first(name=name)

    @classmethod
    def update_by_name(cls, name: str, info_url: str, deadline: datetime) -> bool:
        """Update in place; False when there is no such widget."""
        query = cls.update(info_url=info_url, deadline=deadline).where(cls.name == name)
        return query.execute() > 0

    def time_remaining(self, now: datetime) -> timedelta:
        return max(self.deadline - now, timedelta(0))

    def deadline_passed(self, now: datetime) -> bool:
        return self.deadline < now


class RevokedToken(BaseModel):
    """The blacklist: tokens logged out before they expired, keyed by their `jti`."""

    jti = peewee.CharField(max_length=64, unique=True)
    expires_at = peewee.DateTimeField(index=True)

    class Meta:
        table_name = "revoked_tokens"

    @classmethod
    def revoke(cls, jti: str, expires_at: datetime) -> None:
        """Blacklist a token; revoking it twice is harmless."""
        cls.insert(jti=jti, expires_at=expires_at).on_conflict_ignore().execute()

    @classmethod
    def purge_expired(cls, margin: timedelta) -> int:
        """Forget tokens that expired more than `margin` ago: they are refused as expired
        anyway. The margin covers servers whose clocks lag. Returns how many went."""
        return int(cls.delete().where(cls.expires_at < utcnow() - margin).execute())


class Counter(BaseModel):
    """How many rows a table has, kept by database triggers in the same transaction as
    every insert and delete (see counters.py): Total-Count exact without counting."""

    name = peewee.CharField(max_length=64, unique=True)  # the table's name
    value = peewee.BigIntegerField()

    class Meta:
        table_name = "counters"

    @classmethod
    def rows_in(cls, model: type[peewee.Model]) -> int:
        counter = COUNTER.first(name=model._meta.table_name)
        if counter is None:  # init-db has not run since the table was made: count instead
            return int(model.select().count())
        return int(counter.value)


class Listing(Generic[M]):
    """A table's rows in creation order, a page at a time, and how many there are.

    The page's ids are picked from the id index alone, then only those rows are read
    (and joined): pages in the second half are picked from the end, in reverse, so no
    page skips more than half the ids, and the first and last pages skip none."""

    def __init__(self, model: type[M], rows: Callable[[], peewee.ModelSelect[M]]) -> None:
        self.model = model
        self._forward = Statement(lambda: self._page(rows(), descending=False))
        self._backward = Statement(lambda: self._page(rows(), descending=True))

    def _page(self, rows: peewee.ModelSelect[M], descending: bool) -> peewee.ModelSelect[M]:
        key = cast(peewee.Field, self.model._meta.primary_key)
        order = key.desc() if descending else key
        ids = self.model.select(key).order_by(order).limit(Param("limit")).offset(Param("offset"))
        return rows.where(key.in_(ids)).order_by(order)

    def total(self) -> int:
        return Counter.rows_in(self.model)

    def page(self, number: int, size: int, total: int) -> list[M]:
        """Rows of page `number` (from 1) of `size` rows, when there are `total` rows."""
        start, end = (number - 1) * size, min(number * size, total)
        if start >= end:
            return []
        if start <= total - end:
            return self._forward.all(limit=end - start, offset=start)
        return self._backward.all(limit=end - start, offset=total - end)[::-1]


MODELS = (User, Widget, RevokedToken, Counter)
COUNTED = (User, Widget)

# The hot reads, compiled once (statements.py says why): every authenticated request runs
# USER_FOR_TOKEN; reading widgets or users adds COUNTER and a page, or WIDGET_BY_NAME.
USER_FOR_TOKEN = Statement(lambda: User.for_token_query(placeholder("public_id"), placeholder("jti")))
WIDGET_BY_NAME = Statement(lambda: Widget.with_owner().where(Widget.name == Param("name")))
COUNTER = Statement(lambda: Counter.select(Counter.value).where(Counter.name == Param("name")))
WIDGETS = Listing(Widget, Widget.with_owner)
USERS = Listing(User, User.select)


def create_tables() -> None:
    """Create the tables and indexes that are missing; existing data is left alone.
    Run it through operations.init_db, which also brings older tables up to date."""
    with database.connection_context():
        database.create_tables(MODELS, safe=True)
