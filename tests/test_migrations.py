"""`widgetapi init-db` on databases that already exist: idempotent, and upgrading the
schema of an earlier version without losing data."""
from __future__ import annotations

import uuid

import falcon
import peewee
import webtest
from conftest import PASSWORD, bearer, login, register

from widgetapi import operations
from widgetapi.db import database
from widgetapi.models import MODELS, RevokedToken, User, Widget
from widgetapi.passwords import hash_password
from widgetapi.timeutil import utcnow


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


def columns(table: str) -> set[str]:
    with database.connection_context():
        return {column.name for column in database.get_columns(table)}


def make_first_release_database() -> None:
    """The tables and rows a database made by the first release holds."""
    with database.connection_context():
        database.drop_tables(MODELS, safe=True)
        database.create_tables([UserBeforeLogoutAll, Widget, RevokedToken])
        UserBeforeLogoutAll.create(email="old@example.com", password_hash=hash_password(PASSWORD, 4),
                                   admin=True)
        owner = UserBeforeLogoutAll.get(UserBeforeLogoutAll.email == "old@example.com")
        Widget.create(name="kept", info_url="https://example.com/kept", deadline=utcnow(), owner=owner.id)
        RevokedToken.revoke("a" * 32, utcnow())


def test_init_db_upgrades_a_first_release_database_and_keeps_its_data(
        app: falcon.App, testapp: webtest.TestApp) -> None:
    make_first_release_database()
    assert "tokens_valid_after" not in columns("users")

    operations.init_db()

    assert "tokens_valid_after" in columns("users")
    with database.connection_context():
        user = User.get(User.email == "old@example.com")
        assert user.admin and user.tokens_valid_after is None
        assert [w.name for w in Widget.select()] == ["kept"]
        assert RevokedToken.select().count() == 1
    # the old user logs in, reads the old widget, and can log out everywhere
    headers = bearer(login(testapp, "old@example.com"))
    assert testapp.get("/api/v1/widgets/kept", headers=headers).json["owner"]["email"] == "old@example.com"
    testapp.post("/api/v1/auth/logout-all", headers=headers, status=200)
    testapp.get("/api/v1/auth/user", headers=headers, status=401)


def test_init_db_twice_on_a_database_with_data_changes_nothing(
        app: falcon.App, testapp: webtest.TestApp) -> None:
    token = register(testapp, "alice@example.com")
    testapp.post("/api/v1/auth/logout-all", headers=bearer(token), status=200)
    with database.connection_context():
        before = [(u.email, u.public_id, u.tokens_valid_after) for u in User.select()]

    operations.init_db()
    operations.init_db()

    with database.connection_context():
        assert [(u.email, u.public_id, u.tokens_valid_after) for u in User.select()] == before
    testapp.get("/api/v1/auth/user", headers=bearer(token), status=401)
    testapp.get("/api/v1/auth/user", headers=bearer(login(testapp, "alice@example.com")), status=200)
