"""Row counts kept by triggers (widgetapi/counters.py): Total-Count stays exact whoever
writes, however many write at once, and init-db can run again at any time."""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import falcon
import peewee
import pytest
import webtest
from conftest import bearer, login
from servers import request, threaded_server
from widget_helpers import create_widget, insert_widgets, widget_body

from widgetapi import operations
from widgetapi.config import Config
from widgetapi.db import database
from widgetapi.models import Counter, User
from widgetapi.widgets import Widget

WIDGETS = "/api/v1/widgets"
WRITERS = 4
ROUNDS = 12


def update_body() -> dict[str, str]:
    body = widget_body()
    del body["name"]
    return body


def total_count(testapp: webtest.TestApp, headers: dict[str, str], path: str = WIDGETS) -> int:
    response = testapp.get(path, headers=headers, status=200)
    assert response.json["total_items"] == int(response.headers["Total-Count"])
    return int(response.headers["Total-Count"])


def rows(model: type[peewee.Model]) -> int:
    with database.connection_context():
        return int(model.select().count())


def test_every_kind_of_write_is_counted(testapp: webtest.TestApp, admin_headers: dict[str, str]) -> None:
    assert total_count(testapp, admin_headers) == 0
    create_widget(testapp, admin_headers, "by-api")
    testapp.put_json(f"{WIDGETS}/by-put", update_body(), headers=admin_headers, status=201)
    insert_widgets(["by-model-1", "by-model-2"], "admin@example.com")
    with database.connection_context():
        owner = User.get(User.email == "admin@example.com")
        rows_in = [{"name": f"bulk-{n}", "info_url": "https://example.com", "deadline": owner.registered_on,
                    "owner": owner} for n in range(5)]
        Widget.insert_many(rows_in).execute()  # one statement, five rows
        database.execute_sql("DELETE FROM widgets WHERE name LIKE 'bulk-%%'"
                             if not isinstance(database.obj, peewee.SqliteDatabase)
                             else "DELETE FROM widgets WHERE name LIKE 'bulk-%'")
        Widget.delete().where(Widget.name == "by-model-1").execute()
    testapp.delete(f"{WIDGETS}/by-api", headers=admin_headers, status=204)
    assert total_count(testapp, admin_headers) == rows(Widget) == 2
    assert total_count(testapp, admin_headers, "/api/v1/users") == rows(User) == 1


@pytest.mark.postgres
def test_a_truncated_table_counts_nothing(testapp: webtest.TestApp, admin_headers: dict[str, str]) -> None:
    if not isinstance(database.obj, peewee.PostgresqlDatabase):
        pytest.skip("TRUNCATE is PostgreSQL's")
    insert_widgets(["one", "two"], "admin@example.com")
    with database.connection_context():
        database.execute_sql("TRUNCATE widgets")
    assert total_count(testapp, admin_headers) == 0


def test_a_rolled_back_write_is_not_counted(testapp: webtest.TestApp, admin_headers: dict[str, str]) -> None:
    insert_widgets(["kept"], "admin@example.com")
    with database.connection_context(), database.atomic() as transaction:
        Widget.delete().execute()
        insert_widgets(["gone-1", "gone-2"], "admin@example.com")
        transaction.rollback()
    assert total_count(testapp, admin_headers) == rows(Widget) == 1


@pytest.fixture
def live_url(app: falcon.App) -> Iterator[str]:
    with threaded_server(app, threads=8) as url:
        yield url


def test_total_count_stays_exact_under_concurrent_writes(
        live_url: str, testapp: webtest.TestApp, admin_headers: dict[str, str], config: Config) -> None:
    """API writers (POST, PUT, DELETE over HTTP) and model writers (their own connections)
    at once; readers meanwhile never see a count that no committed state had."""
    failures: list[BaseException] = []
    counts: list[int] = []
    stop = threading.Event()

    def api_writer(number: int) -> None:
        for round_ in range(ROUNDS):
            name = f"api-{number}-{round_}"
            method = "PUT" if round_ % 2 else "POST"
            path = f"{WIDGETS}/{name}" if method == "PUT" else WIDGETS
            body = update_body() if method == "PUT" else widget_body(name)
            assert request(live_url, method, path, body, admin_headers).status == 201
            if round_ % 3 == 0:
                assert request(live_url, "DELETE", f"{WIDGETS}/{name}", headers=admin_headers).status == 204

    def model_writer(number: int) -> None:
        for round_ in range(ROUNDS):
            name = f"model-{number}-{round_}"
            insert_widgets([name, f"{name}-b"], "admin@example.com")
            if round_ % 2 == 0:
                with database.connection_context():
                    Widget.delete().where(Widget.name == f"{name}-b").execute()

    def reader() -> None:
        while not stop.is_set():
            reply = request(live_url, "GET", f"{WIDGETS}?per_page=5", headers=admin_headers)
            assert reply.status == 200 and reply.body["total_items"] == int(reply.headers["total-count"])
            counts.append(reply.body["total_items"])

    def guarded(work: Callable[..., None], *args: int) -> threading.Thread:
        def run() -> None:
            try:
                work(*args)
            except BaseException as error:  # reported below
                failures.append(error)
        return threading.Thread(target=run)

    writers = [guarded(writer, n) for writer in (api_writer, model_writer) for n in range(WRITERS)]
    readers = [guarded(reader) for _ in range(2)]
    for thread in writers + readers:
        thread.start()
    for thread in writers:
        thread.join(timeout=120)
    stop.set()
    for thread in readers:
        thread.join(timeout=60)
    assert not failures, failures
    api_rows = WRITERS * (ROUNDS - len(range(0, ROUNDS, 3)))
    model_rows = WRITERS * (2 * ROUNDS - len(range(0, ROUNDS, 2)))
    assert total_count(testapp, admin_headers) == rows(Widget) == api_rows + model_rows
    assert counts and all(0 <= count <= api_rows + model_rows + WRITERS * 2 for count in counts)


def test_init_db_again_keeps_the_counts_and_restores_lost_triggers(
        testapp: webtest.TestApp, admin_headers: dict[str, str], config: Config) -> None:
    insert_widgets(["one", "two", "three"], "admin@example.com")
    operations.init_db()
    assert total_count(testapp, admin_headers) == 3
    with database.connection_context():  # as a table rebuild (SQLite migrations) would
        for event in ("insert", "delete"):
            trigger = f'"widgets_counted_{event}"'
            database.execute_sql(f"DROP TRIGGER {trigger} ON widgets"
                                 if isinstance(database.obj, peewee.PostgresqlDatabase)
                                 else f"DROP TRIGGER {trigger}")
    insert_widgets(["uncounted"], "admin@example.com")
    assert total_count(testapp, admin_headers) == 3  # the counter no longer follows
    operations.init_db()
    assert total_count(testapp, admin_headers) == rows(Widget) == 4
    create_widget(testapp, admin_headers, "counted-again")
    assert total_count(testapp, admin_headers) == 5


def test_init_db_puts_right_a_count_that_something_bypassed(
        testapp: webtest.TestApp, admin_headers: dict[str, str]) -> None:
    insert_widgets(["one", "two"], "admin@example.com")
    with database.connection_context():
        Counter.update(value=40).where(Counter.name == "widgets").execute()
    assert total_count(testapp, admin_headers) == 40
    operations.init_db()
    assert total_count(testapp, admin_headers) == 2


def test_without_its_counter_a_table_is_counted(testapp: webtest.TestApp,
                                                admin_headers: dict[str, str]) -> None:
    insert_widgets(["one", "two"], "admin@example.com")
    with database.connection_context():
        Counter.delete().where(Counter.name == "widgets").execute()
    assert total_count(testapp, admin_headers) == 2


def test_pages_read_from_either_end_are_the_rows_in_creation_order(
        testapp: webtest.TestApp, admin_headers: dict[str, str]) -> None:
    names = [f"w{number:02}" for number in range(23)]
    insert_widgets(names, "admin@example.com")
    with database.connection_context():  # gaps in the ids
        Widget.delete().where(Widget.name.in_(["w04", "w15"])).execute()
    names = [name for name in names if name not in ("w04", "w15")]  # 21: short last pages
    for per_page in (5, 10, 25):
        pages = -(-len(names) // per_page)
        for page in range(1, pages + 2):
            body = testapp.get(f"{WIDGETS}?per_page={per_page}&page={page}", headers=admin_headers).json
            assert [item["name"] for item in body["items"]] == names[(page - 1) * per_page:page * per_page]
            assert body["total_items"] == len(names) and body["total_pages"] == pages


def test_pages_of_users_from_either_end(testapp: webtest.TestApp, admin_headers: dict[str, str],
                                        config: Config) -> None:
    for number in range(11):
        operations.create_admin(config, f"user{number:02}@example.com", lambda: "correct horse battery")
    emails = ["admin@example.com"] + [f"user{number:02}@example.com" for number in range(11)]
    headers = bearer(login(testapp, "user00@example.com"))
    for page in (1, 2, 3):
        body = testapp.get(f"/api/v1/users?per_page=5&page={page}", headers=headers).json
        assert [item["email"] for item in body["items"]] == emails[(page - 1) * 5:page * 5]
        assert body["total_items"] == 12
