"""Peewee models. They carry their own queries as small class methods."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import cast

import peewee

from widgetapi.db import database
from widgetapi.statements import Listing, Param, Statement, placeholder
from widgetapi.timeutil import utcnow


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
    # A disabled user cannot log in and their tokens are refused. The database default lets
    # `init-db` add the column to a table with rows.
    disabled = peewee.BooleanField(default=False, constraints=[peewee.SQL("DEFAULT FALSE")])
    # One more at every revocation (password change, logout everywhere, disabling): a
    # session is valid only while it carries the generation the user has (see Session).
    token_generation = peewee.IntegerField(default=0, constraints=[peewee.SQL("DEFAULT 0")])
    has_session: bool  # only on users from for_token()

    class Meta:
        table_name = "users"

    @classmethod
    def by_email(cls, email: str) -> User | None:
        return cast("User | None", cls.get_or_none(cls.email == email))

    @classmethod
    def by_public_id(cls, public_id: uuid.UUID) -> User | None:
        return cast("User | None", cls.get_or_none(cls.public_id == public_id))

    @classmethod
    def first_admin(cls) -> User | None:
        return cast("User | None", cls.select().where(cls.admin == True).order_by(cls.id).first())  # noqa: E712

    @classmethod
    def active_admins(cls) -> peewee.ModelSelect[User]:
        return cls.select().where((cls.admin == True) & (cls.disabled == False))  # noqa: E712

    @property
    def is_active_admin(self) -> bool:
        return bool(self.admin and not self.disabled)

    @classmethod
    def for_token(cls, public_id: uuid.UUID, jti: str) -> User | None:
        """The token's user, with `has_session` telling whether the token's session is still
        there: one query for both, since every authenticated request asks."""
        return USER_FOR_TOKEN.first(public_id=public_id, jti=jti)

    @classmethod
    def for_token_query(cls, public_id: uuid.UUID, jti: str) -> peewee.ModelSelect[User]:
        # The user row by its unique public_id, and an index lookup of the session by its
        # unique jti; the session must be this user's, of the user's current generation.
        session = Session.select(peewee.SQL("1")).where(
            (Session.jti == jti) & (Session.user == cls.id) & (Session.generation == cls.token_generation))
        query = cls.select(cls, peewee.fn.EXISTS(session).alias("has_session"))
        return query.where(cls.public_id == public_id)

    def refuses_token(self, issued_at: datetime) -> bool:
        """Whether a token issued at `issued_at` is refused: its session was ended (a user
        from for_token()), the user is disabled, or all their tokens were revoked since."""
        if not getattr(self, "has_session", True) or self.disabled:
            return True
        return self.tokens_valid_after is not None and issued_at <= self.tokens_valid_after

    def token_issue_time(self) -> datetime:
        """When a token issued now says it was issued: after the last logout everywhere,
        even one in this very microsecond."""
        now = utcnow()
        if self.tokens_valid_after is not None and now <= self.tokens_valid_after:
            return self.tokens_valid_after + timedelta(microseconds=1)
        return now

    def rehash(self, password_hash: str) -> None:
        """Store a new hash of the same password (another cost), unless it changed meanwhile."""
        User.update(password_hash=password_hash).where(
            (User.id == self.id) & (User.password_hash == self.password_hash)).execute()
        self.password_hash = password_hash

    def revoke_all_tokens(self, issued_at_least: datetime | None = None) -> None:
        """Log out everywhere: refuse every token issued until now, and at least those
        issued until `issued_at_least` (the calling token's iat, should this clock lag).

        The user's token generation goes up by one and every session of an older one is
        refused, the sessions deleted. A login that read the user before this commits
        writes its session with the generation it read, whenever it writes it: refused
        too, with no lock to wait for. Afterwards `token_generation` and
        `tokens_valid_after` are the database's, for the next session and
        token_issue_time()."""
        with database.atomic():
            cutoff = utcnow() if issued_at_least is None else max(utcnow(), issued_at_least)
            User.update(token_generation=User.token_generation + 1).where(User.id == self.id).execute()
            unset_or_earlier = (User.tokens_valid_after.is_null()) | (User.tokens_valid_after < cutoff)
            User.update(tokens_valid_after=cutoff).where((User.id == self.id) & unset_or_earlier).execute()
            Session.delete().where(Session.user == self.id).execute()
            row = User.get_or_none(User.id == self.id)
            if row is not None:
                self.token_generation, self.tokens_valid_after = row.token_generation, row.tokens_valid_after


class Widget(BaseModel):
    name = peewee.CharField(max_length=100, unique=True)
    info_url = peewee.CharField(max_length=255)
    created_at = peewee.DateTimeField(default=utcnow)
    deadline = peewee.DateTimeField()
    # null once the owner's account is deleted: the widget stays
    owner = peewee.ForeignKeyField(User, backref="widgets", null=True, on_delete="SET NULL")
    version = peewee.IntegerField(default=1, constraints=[peewee.SQL("DEFAULT 1")])  # conditional.py

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
    def update_by_name(cls, name: str, info_url: str, deadline: datetime,
                       version: int | None = None) -> Widget | None:
        """Update in place, a new version, only from `version` when given; the widget as
        stored now, or None when there is no such widget (in that version)."""
        with database.atomic():
            query = cls.update(info_url=info_url, deadline=deadline, version=cls.version + 1)
            if not query.where(cls.name == name, *cls._in_version(version)).execute():
                return None
            return cls.by_name(name)

    @classmethod
    def delete_by_name(cls, name: str, version: int | None = None) -> bool:
        """False when there is no such widget (in that version)."""
        return cls.delete().where(cls.name == name, *cls._in_version(version)).execute() > 0

    @classmethod
    def _in_version(cls, version: int | None) -> list[peewee.Expression]:
        return [] if version is None else [cls.version == version]

    def time_remaining(self, now: datetime) -> timedelta:
        return max(self.deadline - now, timedelta(0))

    def deadline_passed(self, now: datetime) -> bool:
        return self.deadline < now


class Session(BaseModel):
    """A token the server issued and still accepts, by its `jti`: deleting the row ends it.
    It is valid only while its `generation` is its user's `token_generation`, the one the
    login read with the password hash: a revocation that commits in between refuses it.
    Rows of expired tokens are purged (widgetapi.purge)."""

    jti = peewee.CharField(max_length=64, unique=True)
    user = peewee.ForeignKeyField(User, backref="sessions", on_delete="CASCADE")
    issued_at = peewee.DateTimeField()
    expires_at = peewee.DateTimeField(index=True)
    address = peewee.CharField(max_length=255, null=True)
    user_agent = peewee.CharField(max_length=255, null=True)
    generation = peewee.IntegerField(default=0, constraints=[peewee.SQL("DEFAULT 0")])

    class Meta:
        table_name = "sessions"

    @classmethod
    def of_current_generation(cls, user: User) -> peewee.Expression:
        return (cls.user == user.id) & (cls.generation == user.token_generation)

    @classmethod
    def live(cls, user: User) -> peewee.ModelSelect[Session]:
        """The user's sessions whose tokens are still accepted, newest first."""
        query = cls.select().where(cls.of_current_generation(user) & (cls.expires_at > utcnow()))
        if user.tokens_valid_after is not None:
            query = query.where(cls.issued_at > user.tokens_valid_after)
        return query.order_by(cls.issued_at.desc(), cls.id.desc())

    @classmethod
    def end(cls, user: User, jti: str) -> bool:
        """End one of the user's live sessions; False when there is no such session."""
        live = cls.of_current_generation(user) & (cls.expires_at > utcnow())
        query = cls.delete().where(live & (cls.jti == jti))
        return query.execute() > 0

    @classmethod
    def purge_expired(cls, margin: timedelta) -> int:
        """Forget sessions that expired more than `margin` ago: their tokens are refused as
        expired anyway. The margin covers servers whose clocks lag. Returns how many went."""
        return int(cls.delete().where(cls.expires_at < utcnow() - margin).execute())


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


MODELS: tuple[type[BaseModel], ...] = (User, Widget, Session, LoginFailures, AuthRequests, Counter)
COUNTED = (User, Widget)

# The hot reads, compiled once (statements.py says why): every authenticated request runs
# USER_FOR_TOKEN; reading widgets or users adds COUNTER and a page, or WIDGET_BY_NAME.
USER_FOR_TOKEN = Statement(lambda: User.for_token_query(placeholder("public_id"), placeholder("jti")))
WIDGET_BY_NAME = Statement(lambda: Widget.with_owner().where(Widget.name == Param("name")))
COUNTER = Statement(lambda: Counter.select(Counter.value).where(Counter.name == Param("name")))
WIDGETS = Listing(Widget, Widget.with_owner, lambda: Counter.rows_in(Widget))
USERS = Listing(User, User.select, lambda: Counter.rows_in(User))


def register(model: type[BaseModel]) -> None:
    """Add a model kept in a module of its own (books.py) to MODELS: its table is created,
    checked and migrated with the others."""
    global MODELS
    if model not in MODELS:
        MODELS = (*MODELS, model)


def create_tables() -> None:
    """Create the tables and indexes that are missing; existing data is left alone.
    Run it through operations.init_db, which also brings older tables up to date."""
    with database.connection_context():
        database.create_tables(MODELS, safe=True)


def check_tables() -> None:
    """Raise peewee.DatabaseError unless the service can use its tables: each one there with
    the columns the models expect, and the database writable. Cheap enough for every health
    check: empty reads, and on SQLite a write that is rolled back."""
    for model in MODELS:
        model.select().limit(0).execute()
    db = database.obj
    if isinstance(db, peewee.SqliteDatabase):
        # A file this process may not write opens read-only without a word; reads work
        # and every write fails. Writing the header's user_version as it is, then rolling
        # back, shows it without changing anything.
        db.execute_sql("BEGIN IMMEDIATE")
        try:
            version = int(db.execute_sql("PRAGMA user_version").fetchone()[0])
            db.execute_sql(f"PRAGMA user_version = {version}")
        finally:
            db.execute_sql("ROLLBACK")
    elif db.execute_sql("SHOW transaction_read_only").fetchone()[0] == "on":
        raise peewee.OperationalError("the database is read-only (transaction_read_only is on)")


# Models in modules of their own register themselves; importing them here means they have,
# whichever module a process imports first.
import widgetapi.books  # noqa: E402,F401
import widgetapi.outbox  # noqa: E402,F401
import widgetapi.recovery  # noqa: E402,F401
