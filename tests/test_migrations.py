"""`widgetapi init-db` on databases that already exist: idempotent, and upgrading the
schema of an earlier version without losing data."""
from __future__ import annotations

import time
import uuid

import falcon
import peewee
import webtest
from conftest import PASSWORD, bearer, login, register

from widgetapi import operations
from widgetapi.books import Book
from widgetapi.config import Config
from widgetapi.db import database
from widgetapi.keys import KeyRing
from widgetapi.models import MODELS, Session, User
from widgetapi.outbox import OutboxMail
from widgetapi.passwords import hash_password
from widgetapi.recovery import PasswordReset
from widgetapi.timeutil import utcnow
from widgetapi.tokens import issue_token
from widgetapi.widgets import Widget

BLACKLISTED = "Token blacklisted. Please log in again."


class UserBeforeLogoutAll(peewee.Model):
    """`users` as the first release made it: no tokens_valid_after."""

    id = peewee.AutoField()
    email = peewee.CharField(max_length=254, unique=True)
    password_hash = peewee.CharField(max_length=60)
    public_id = peewee.UUIDField(unique=True, default=uuid.uuid4)
    admin = peewee.BooleanField(default=False)
    registered_on = peewee.DateTimeField(default=utcnow)

    class Meta:
        database = database
        table_name = "users"


class UserBeforeSessions(UserBeforeLogoutAll):
    """`users` before sessions: no disabled."""

    tokens_valid_after = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "users"


class WidgetBeforeSessions(peewee.Model):
    """`widgets` before sessions: every widget has an owner (NOT NULL, no ON DELETE)."""

    id = peewee.AutoField()
    name = peewee.CharField(max_length=100, unique=True)
    info_url = peewee.CharField(max_length=255)
    created_at = peewee.DateTimeField(default=utcnow)
    deadline = peewee.DateTimeField()
    owner = peewee.ForeignKeyField(UserBeforeLogoutAll, backref="widgets")

    class Meta:
        database = database
        table_name = "widgets"


class RevokedTokenBeforeSessions(peewee.Model):
    """The blacklist that sessions replaced."""

    id = peewee.AutoField()
    jti = peewee.CharField(max_length=64, unique=True)
    expires_at = peewee.DateTimeField(index=True)

    class Meta:
        database = database
        table_name = "revoked_tokens"


def columns(table: str) -> dict[str, peewee.ColumnMetadata]:
    with database.connection_context():
        return {column.name: column for column in database.get_columns(table)}


def tables() -> set[str]:
    with database.connection_context():
        return set(database.get_tables())


def make_old_database(user_model: type[UserBeforeLogoutAll]) -> None:
    """The tables and rows a database made by an earlier release holds: an administrator
    owning a widget, a user owning another, a blacklisted token."""
    with database.connection_context():
        database.drop_tables([*MODELS, RevokedTokenBeforeSessions], safe=True)
        database.create_tables([user_model, WidgetBeforeSessions, RevokedTokenBeforeSessions])
        for email, admin, widget in [("old@example.com", True, "kept"), ("bob@example.com", False, "bobs")]:
            owner = user_model.create(email=email, password_hash=hash_password(PASSWORD, 4), admin=admin)
            WidgetBeforeSessions.create(name=widget, info_url=f"https://example.com/{widget}",
                                        deadline=utcnow(), owner=owner.id)
        RevokedTokenBeforeSessions.create(jti="a" * 32, expires_at=utcnow())


def test_init_db_upgrades_a_first_release_database_and_keeps_its_data(
        app: falcon.App, testapp: webtest.TestApp) -> None:
    make_old_database(UserBeforeLogoutAll)
    assert "tokens_valid_after" not in columns("users")

    operations.init_db()

    assert {"tokens_valid_after", "disabled"} <= set(columns("users"))
    with database.connection_context():
        user = User.get(User.email == "old@example.com")
        assert user.admin and user.tokens_valid_after is None and not user.disabled
        assert [w.name for w in Widget.select().order_by(Widget.id)] == ["kept", "bobs"]
    # the old user logs in, reads the old widget, and can log out everywhere
    headers = bearer(login(testapp, "old@example.com"))
    assert testapp.get("/api/v1/widgets/kept", headers=headers).json["owner"]["email"] == "old@example.com"
    testapp.post("/api/v1/auth/logout-all", headers=headers, status=200)
    testapp.get("/api/v1/auth/user", headers=headers, status=401)


def test_init_db_upgrades_a_database_from_before_sessions_and_keeps_its_data(
        app: falcon.App, testapp: webtest.TestApp, config: Config) -> None:
    make_old_database(UserBeforeSessions)
    with database.connection_context():
        bob = UserBeforeSessions.get(UserBeforeSessions.email == "bob@example.com")
    # a token the earlier release issued: valid then, without a session now
    old_token = issue_token(bob.public_id, False, KeyRing.from_config(config), 300)
    assert not columns("widgets")["owner_id"].null and "disabled" not in columns("users")

    operations.init_db()

    assert "revoked_tokens" not in tables() and "sessions" in tables()
    assert columns("widgets")["owner_id"].null
    assert not columns("users")["disabled"].null
    with database.connection_context():
        assert [(u.email, u.admin, u.disabled) for u in User.select().order_by(User.id)] == [
            ("old@example.com", True, False), ("bob@example.com", False, False)]
        assert [(w.name, w.owner and w.owner.email) for w in Widget.with_owner()] == [
            ("kept", "old@example.com"), ("bobs", "bob@example.com")]
        assert {index.name for index in database.get_indexes("widgets")} >= {"widget_name", "widget_owner_id"}
    # tokens from before the upgrade have no session: refused, as the README's upgrade note says
    response = testapp.get("/api/v1/auth/user", headers=bearer(old_token), status=401)
    assert response.json["message"] == BLACKLISTED
    # the new behaviour works on the upgraded tables: sessions, disabling, deleting an owner
    admin = bearer(login(testapp, "old@example.com"))
    bob_headers = bearer(login(testapp, "bob@example.com"))
    assert testapp.get("/api/v1/auth/sessions", headers=bob_headers).json["total_items"] == 1
    users = f"/api/v1/users/{bob.public_id}"
    testapp.patch_json(users, {"disabled": True}, headers=admin, status=200)
    testapp.get("/api/v1/auth/user", headers=bob_headers, status=401)
    testapp.delete(users, headers=admin, status=204)
    assert testapp.get("/api/v1/widgets/bobs", headers=admin).json["owner"] is None
    assert testapp.get("/api/v1/widgets/kept", headers=admin).json["owner"]["email"] == "old@example.com"
    # a widget whose owner is deleted by the database itself, not by the app: ON DELETE SET NULL
    with database.connection_context():
        other = User.create(email="carol@example.com", password_hash="x" * 60)
        Widget.create(name="carols", info_url="https://example.com/c", deadline=utcnow(), owner=other)
        database.execute_sql(f'DELETE FROM "users" WHERE "id" = {int(other.id)}')
    assert testapp.get("/api/v1/widgets/carols", headers=admin).json["owner"] is None


def test_init_db_twice_on_a_database_with_data_changes_nothing(
        app: falcon.App, testapp: webtest.TestApp) -> None:
    token = register(testapp, "alice@example.com")
    testapp.post("/api/v1/auth/logout-all", headers=bearer(token), status=200)
    live = login(testapp, "alice@example.com")
    time.sleep(0.01)
    with database.connection_context():
        before = [(u.email, u.public_id, u.tokens_valid_after, u.disabled) for u in User.select()]
        sessions = [s.jti for s in Session.select()]

    operations.init_db()
    operations.init_db()

    with database.connection_context():
        assert [(u.email, u.public_id, u.tokens_valid_after, u.disabled) for u in User.select()] == before
        assert [s.jti for s in Session.select()] == sessions
    testapp.get("/api/v1/auth/user", headers=bearer(token), status=401)
    testapp.get("/api/v1/auth/user", headers=bearer(live), status=200)


class WidgetBeforeBooks(WidgetBeforeSessions):
    """`widgets` before conditional requests (the release before books): owners that may go,
    no version."""

    owner = peewee.ForeignKeyField(User, backref="old_widgets", null=True, on_delete="SET NULL")  # type: ignore[assignment]

    class Meta:
        table_name = "widgets"


def test_init_db_upgrades_a_database_from_before_books_and_keeps_its_data(
        app: falcon.App, testapp: webtest.TestApp) -> None:
    with database.connection_context():
        database.drop_tables(MODELS, safe=True)
        earlier = [model for model in MODELS if model not in (Widget, Book)]
        database.create_tables([*earlier, WidgetBeforeBooks])
        owner = User.create(email="old@example.com", password_hash=hash_password(PASSWORD, 4), admin=True)
        WidgetBeforeBooks.create(name="kept", info_url="https://example.com/kept", deadline=utcnow(),
                                 owner=owner)
    assert "version" not in columns("widgets") and "books" not in tables()

    operations.init_db()

    assert "version" in columns("widgets") and not columns("widgets")["version"].null
    assert "books" in tables()
    with database.connection_context():
        kept = [(w.name, w.version, w.owner and w.owner.email) for w in Widget.select()]
    assert kept == [("kept", 1, "old@example.com")]
    headers = bearer(login(testapp, "old@example.com"))
    etag = testapp.get("/api/v1/widgets/kept", headers=headers).headers["ETag"]
    update = {"info_url": "https://example.com/new", "deadline": "2999-01-01"}
    testapp.put_json("/api/v1/widgets/kept", update, headers={**headers, "If-Match": etag}, status=200)
    testapp.put_json("/api/v1/widgets/kept", update, headers={**headers, "If-Match": etag}, status=412)
    book = testapp.post_json("/api/v1/books", {"name": "Dune", "author": "F. Herbert", "publisher": "Chilton",
                                               "price": "12.50"}, headers=headers, status=201).json
    assert testapp.get("/api/v1/books", headers=headers).json["items"] == [book]
    operations.init_db()  # again: nothing changes
    assert testapp.get("/api/v1/books", headers=headers).json["items"] == [book]


def test_init_db_adds_token_generations_and_keeps_the_sessions_there_valid(testapp: webtest.TestApp) -> None:
    headers = bearer(register(testapp, "old@example.com"))
    with database.connection_context():
        database.execute_sql('ALTER TABLE "sessions" DROP COLUMN "generation"')
        database.execute_sql('ALTER TABLE "users" DROP COLUMN "token_generation"')

    operations.init_db()

    assert "token_generation" in columns("users") and "generation" in columns("sessions")
    testapp.get("/api/v1/auth/user", headers=headers, status=200)
    testapp.post("/api/v1/auth/logout-all", headers=headers, status=200)
    assert testapp.get("/api/v1/auth/user", headers=headers, status=401).json["message"] == BLACKLISTED


def test_init_db_adds_the_password_reset_tables_to_a_database_from_before_them(
        app: falcon.App, testapp: webtest.TestApp) -> None:
    """Today's schema without the outbox and the reset tokens (as the release before account
    recovery made it), with data: init-db adds both, and a reset works on the result."""
    headers = bearer(register(testapp, "alice@example.com"))
    with database.connection_context():
        database.drop_tables([PasswordReset, OutboxMail])
    assert not {"password_resets", "mail_outbox"} & tables()

    operations.init_db()
    operations.init_db()

    assert {"password_resets", "mail_outbox"} <= tables()
    assert {"token_hash", "expires_at", "password_hash", "used_at"} <= set(columns("password_resets"))
    testapp.get("/api/v1/auth/user", headers=headers, status=200)
    testapp.post_json("/api/v1/auth/password-reset", {"email": "alice@example.com"}, status=202)
    deadline = time.monotonic() + 30  # the sender (MAIL_URL=log) mints a token in the new table
    while time.monotonic() < deadline:
        with database.connection_context():
            if PasswordReset.select().count() == 1 and OutboxMail.select().count() == 0:
                return
        time.sleep(0.05)
    raise AssertionError("the reset mail was not delivered from the new tables")
