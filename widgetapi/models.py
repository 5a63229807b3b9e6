"""Peewee models. They carry their own queries as small class methods."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TypeVar, cast

import peewee

from widgetapi.db import database
from widgetapi.statements import Listing, Param, Statement, placeholder
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
        there: one query for both, since every authenticated request asks. The user has the
        columns a request uses (TOKEN_COLUMNS), never the password hash."""
        return USER_FOR_TOKEN.first(public_id=public_id, jti=jti)

    @classmethod
    def for_token_query(cls, public_id: uuid.UUID, jti: str) -> peewee.ModelSelect[User]:
        # The user row by its unique public_id, and an index lookup of the session by its
        # unique jti; the session must be this user's, of the user's current generation.
        session = Session.select(peewee.SQL("1")).where(
            (Session.jti == jti) & (Session.user == cls.id) & (Session.generation == cls.token_generation))
        query = cls.select(*TOKEN_COLUMNS, peewee.fn.EXISTS(session).alias("has_session"))
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

    @classmethod
    def password_hash_of(cls, user_id: int) -> str | None:
        """The stored hash (None when the account is gone): users from for_token() lack it."""
        return cast("str | None", cls.select(cls.password_hash).where(cls.id == user_id).scalar())

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


MODELS: tuple[type[BaseModel], ...] = (User, Session, Counter)
COUNTED: tuple[type[BaseModel], ...] = (User,)  # row counts kept by triggers (counters.py)

# The hot reads, compiled once (statements.py says why): every authenticated request runs
# USER_FOR_TOKEN; reading users adds COUNTER and a page (widgets.py and books.py hold theirs).
USER_FOR_TOKEN = Statement(lambda: User.for_token_query(placeholder("public_id"), placeholder("jti")))
# What an authenticated request reads of its user: not the password hash (a password check
# reads it: User.password_hash_of).
TOKEN_COLUMNS = (User.id, User.email, User.public_id, User.admin, User.registered_on,
                 User.tokens_valid_after, User.disabled, User.token_generation)
COUNTER = Statement(lambda: Counter.select(Counter.value).where(Counter.name == Param("name")))
USERS = Listing(User, User.select, lambda: Counter.rows_in(User))


def with_owner_shown(model: type[M], join: str) -> peewee.ModelSelect[M]:
    """Rows of `model` (widgets, books) with what an item shows of its owner (User.id says
    whether there is one), in creation order, for item reads and pages: every column but
    the owner's id, which the owner object joined to the row stands for (statements.py)."""
    columns = [field for field in model._meta.sorted_fields if field is not model.owner]  # type: ignore[attr-defined]
    owner = (User.id, User.email, User.public_id)
    return model.select(*columns, *owner).join(User, join).order_by(model.id)  # type: ignore[attr-defined]


def register(model: type[BaseModel], counted: bool = False) -> None:
    """Add a model kept in a module of its own (widgets.py, books.py, throttle_counts.py) to
    MODELS: its table is created, checked and migrated with the others. A `counted` one's
    rows are counted by triggers (counters.py), for Counter.rows_in()."""
    global MODELS, COUNTED
    if model not in MODELS:
        MODELS = (*MODELS, model)
    if counted and model not in COUNTED:
        COUNTED = (*COUNTED, model)


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
import widgetapi.throttle_counts  # noqa: E402,F401
import widgetapi.widgets  # noqa: E402,F401
