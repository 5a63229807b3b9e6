"""The hot reads compiled once (widgetapi/statements.py): which statements an authenticated
read issues, on the database the suite runs on, and that compiled queries read like Peewee's."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import falcon
import peewee
import pytest
import webtest
from book_helpers import BOOKS, create_book
from widget_helpers import create_widget, insert_widgets

from widgetapi.books import BOOK, BOOK_COUNT, OWN_BOOK
from widgetapi.books import BOOKS as BOOKS_LISTING
from widgetapi.config import Config
from widgetapi.db import database, open_database
from widgetapi.models import COUNTER, TOKEN_COLUMNS, USER_FOR_TOKEN, USERS, User
from widgetapi.statements import Listing, Param, Statement
from widgetapi.widgets import WIDGET_BY_NAME, WIDGETS, Widget


@contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL of every statement the database runs meanwhile, in order."""
    seen: list[str] = []

    def hook(event: peewee.QueryEvent) -> None:
        seen.append(event.sql)

    hooks = database.obj.query_hooks
    hooks.append(hook)
    try:
        yield seen
    finally:
        hooks.remove(hook)


def _page(listing: Listing[Any], descending: bool, size: int = 10) -> str:
    return listing.statement(size, descending).sql


def test_a_widget_read_is_the_token_check_and_the_widget(testapp: webtest.TestApp,
                                                         admin_headers: dict[str, str]) -> None:
    create_widget(testapp, admin_headers, "gadget")
    with statements() as seen:
        testapp.get("/api/v1/widgets/gadget", headers=admin_headers, status=200)
    assert seen == [USER_FOR_TOKEN.sql, WIDGET_BY_NAME.sql]
    token_check, widget = seen
    assert token_check.startswith('SELECT "t1"."id"') and 'FROM "users"' in token_check
    assert "EXISTS(" in token_check  # the token's own state, in the same query as its user
    assert 'LEFT OUTER JOIN "users"' in widget  # a widget without an owner is still found
    assert "password_hash" not in widget  # the owner as shown, no more


def test_a_page_of_widgets_is_the_token_check_the_count_and_the_page(
        testapp: webtest.TestApp, admin_headers: dict[str, str]) -> None:
    insert_widgets([f"w{number}" for number in range(30)], "admin@example.com")
    with statements() as seen:
        testapp.get("/api/v1/widgets?per_page=10", headers=admin_headers, status=200)
        testapp.get("/api/v1/widgets?per_page=10&page=3", headers=admin_headers, status=200)
        testapp.get("/api/v1/widgets?per_page=10&page=4", headers=admin_headers, status=200)
    first, last = _page(WIDGETS, descending=False), _page(WIDGETS, descending=True)
    assert seen == [USER_FOR_TOKEN.sql, COUNTER.sql, first,
                    USER_FOR_TOKEN.sql, COUNTER.sql, last,
                    USER_FOR_TOKEN.sql, COUNTER.sql]  # past the last page: nothing to read
    assert "COUNT(" not in " ".join(seen).upper()
    # Only ids are skipped, in the subquery; the rows are read by id and joined.
    assert first.count("OFFSET") == 1 and first.index("OFFSET") < first.index(")) ORDER BY")
    assert 'IN (SELECT "t1"."id" FROM "widgets"' in first
    assert "LIMIT 10 OFFSET" in first and "LIMIT 10 OFFSET" in last  # the size in the SQL


def test_a_page_and_its_count_are_read_in_one_transaction(
        testapp: webtest.TestApp, admin_headers: dict[str, str]) -> None:
    """The count and the page are one snapshot (widgetapi.db.snapshot): BEGIN (READ ONLY,
    REPEATABLE READ on PostgreSQL) and COMMIT around them, which the hooks above do not see:
    two statements more per page. The token check stays outside."""
    insert_widgets([f"w{number}" for number in range(30)], "admin@example.com")
    in_transaction: list[bool] = []

    def hook(event: peewee.QueryEvent) -> None:
        in_transaction.append(database.obj.in_transaction())

    database.obj.query_hooks.append(hook)
    try:
        testapp.get("/api/v1/widgets?per_page=10&page=3", headers=admin_headers, status=200)
        testapp.get("/api/v1/users?per_page=10", headers=admin_headers, status=200)
        testapp.get("/api/v1/auth/user", headers=admin_headers, status=200)
    finally:
        database.obj.query_hooks.remove(hook)
    alone = getattr(database.obj, "pgbouncer", False)  # behind PgBouncer each statement has its own
    assert in_transaction == [alone, True, True, alone, True, True, alone]


def test_a_book_read_costs_what_a_widget_read_costs(testapp: webtest.TestApp,
                                                   user_headers: dict[str, str],
                                                   admin_headers: dict[str, str]) -> None:
    book = create_book(testapp, user_headers)
    with statements() as seen:
        testapp.get(f"{BOOKS}/{book['id']}", headers=user_headers, status=200)
        testapp.get(f"{BOOKS}/{book['id']}", headers=admin_headers, status=200)
    assert seen == [USER_FOR_TOKEN.sql, OWN_BOOK.sql, USER_FOR_TOKEN.sql, BOOK.sql]
    own = seen[1]
    assert '"owner_id" = ' in own and 'JOIN "users"' in own and "password_hash" not in own


def test_a_page_of_books_is_the_token_check_the_count_and_the_page(
        testapp: webtest.TestApp, user_headers: dict[str, str]) -> None:
    for number in range(12):
        create_book(testapp, user_headers, f"book {number}")
    with statements() as seen:
        testapp.get(f"{BOOKS}?per_page=10", headers=user_headers, status=200)
        testapp.get(f"{BOOKS}?per_page=10&page=2", headers=user_headers, status=200)
        testapp.get(f"{BOOKS}?per_page=10&page=3", headers=user_headers, status=200)
    first, last = _page(BOOKS_LISTING, descending=False), _page(BOOKS_LISTING, descending=True)
    assert seen == [USER_FOR_TOKEN.sql, BOOK_COUNT.sql, first,
                    USER_FOR_TOKEN.sql, BOOK_COUNT.sql, last,
                    USER_FOR_TOKEN.sql, BOOK_COUNT.sql]
    # the owner's ids alone are picked (and skipped), then those rows read and joined
    assert first.count("OFFSET") == 1 and '"owner_id" = ' in first.split("IN (SELECT")[1]


def test_the_current_user_is_the_token_check_alone(testapp: webtest.TestApp,
                                                   user_headers: dict[str, str]) -> None:
    with statements() as seen:
        testapp.get("/api/v1/auth/user", headers=user_headers, status=200)
    assert seen == [USER_FOR_TOKEN.sql]


def test_a_page_of_users_is_the_token_check_the_count_and_the_page(
        testapp: webtest.TestApp, admin_headers: dict[str, str]) -> None:
    with statements() as seen:
        testapp.get("/api/v1/users?per_page=10", headers=admin_headers, status=200)
    assert seen == [USER_FOR_TOKEN.sql, COUNTER.sql, _page(USERS, descending=False)]


def test_reads_write_nothing(testapp: webtest.TestApp, admin_headers: dict[str, str]) -> None:
    create_widget(testapp, admin_headers, "gadget")
    with statements() as seen:
        for path in ("/widgets/gadget", "/widgets", "/auth/user", "/users", "/books"):
            testapp.get(f"/api/v1{path}", headers=admin_headers, status=200)
    assert seen and all(sql.startswith("SELECT") for sql in seen)


def test_compiled_objects_equal_peewee_s(testapp: webtest.TestApp, admin_headers: dict[str, str]) -> None:
    create_widget(testapp, admin_headers, "gadget")
    with database.connection_context():
        compiled = Widget.by_name("gadget")
        built = Widget.select().where(Widget.name == "gadget").get()
        owner = User.get(User.email == "admin@example.com")
        user = User.for_token(owner.public_id, "no-such-jti")
    assert compiled is not None and user is not None
    # Item reads leave out the owner's id: the joined owner stands for it.
    assert compiled.__data__ == {name: value for name, value in built.__data__.items() if name != "owner"}
    assert compiled.owner is not None and compiled.owner.id == built.__data__["owner"]
    assert compiled.owner.email == owner.email and compiled.owner.public_id == owner.public_id
    # The token check reads the columns a request uses, and never the password hash.
    assert user.__data__ == {field.name: owner.__data__[field.name] for field in TOKEN_COLUMNS}
    assert "password_hash" not in USER_FOR_TOKEN.sql
    assert not compiled.is_dirty() and not user.is_dirty()


def test_each_statement_is_compiled_once_per_database(app: falcon.App, config: Config) -> None:
    built: list[int] = []

    def build() -> peewee.ModelSelect[User]:
        built.append(1)
        return User.select().where(User.email == Param("email"))

    statement = Statement(build)
    with database.connection_context():
        for _ in range(3):
            assert statement.first(email="nobody@example.com") is None
    assert len(built) == 1
    open_database(config.database_url)  # a new database handle: its own SQL
    with database.connection_context():
        assert statement.all(email="nobody@example.com") == []
    assert len(built) == 2


def test_params_go_where_the_query_puts_them_whatever_their_order(
        testapp: webtest.TestApp, admin_headers: dict[str, str]) -> None:
    # The token check names the jti (in EXISTS) before the user's public_id.
    sql = USER_FOR_TOKEN.sql
    assert sql.index("jti") < sql.index('"public_id" =')
    with database.connection_context():
        admin = User.get(User.email == "admin@example.com")
        found = User.for_token(admin.public_id, "some-jti")
    assert found is not None and found.email == "admin@example.com"


def test_a_query_whose_main_model_is_not_first_is_refused(app: falcon.App) -> None:
    statement = Statement(lambda: Widget.select(User.email, Widget.name).join(User))
    with database.connection_context(), pytest.raises(ValueError, match="first"):
        statement.all()
