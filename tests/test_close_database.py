"""Closing the database (tests, re-opening) while another thread (a background purge, the
mail sender) runs queries on one of its pooled SQLite connections: that connection is left
to its thread and closed when it is returned. Closing an sqlite3 connection under another
thread's query crashed the whole process (a segmentation fault)."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import on_postgresql

from widgetapi.db import close_database, connections_in_use, database, open_database

pytestmark = pytest.mark.skipif(on_postgresql(), reason="SQLite's pool and sqlite3's connections")

# Rounds of closing under a busy thread: before the fix, the process crashed within 30.
ROUNDS = 100


def test_closing_the_database_while_another_thread_queries_never_crashes(tmp_path: Path) -> None:
    failures: list[BaseException] = []

    def query(started: threading.Event) -> None:
        try:
            with database.connection_context():
                started.set()
                for _ in range(200):
                    database.execute_sql("SELECT count(*) FROM sqlite_master").fetchone()
        except BaseException as error:  # noqa: BLE001 -- reported by the test thread
            failures.append(error)

    for _ in range(ROUNDS):
        open_database(f"sqlite:///{tmp_path / 'closing.db'}")
        started = threading.Event()
        background = threading.Thread(target=query, args=(started,))
        background.start()
        assert started.wait(30)
        close_database()
        background.join(30)
    close_database()
    assert failures == []


def test_a_connection_in_use_is_closed_when_returned_not_under_its_query(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'closing.db'}")
    inside, release = threading.Event(), threading.Event()
    results: list[Any] = []

    def pause() -> int:  # an SQL function: the query is under way while it waits
        inside.set()
        release.wait(30)
        return 1

    def query() -> None:
        with database.connection_context():
            database.connection().create_function("pause", 0, pause)
            results.append(database.execute_sql("SELECT pause() + count(*) FROM sqlite_master").fetchone())
            results.append(database.connection())

    background = threading.Thread(target=query)
    background.start()
    try:
        assert inside.wait(30)
        with database.connection_context():  # an idle connection in the pool as well
            idle = database.connection()
        closing = threading.Thread(target=close_database)
        closing.start()
        closing.join(10)
        assert not closing.is_alive()  # closing does not wait on (or break) the query
        assert connections_in_use(db) == 1  # still the background thread's
    finally:
        release.set()
        background.join(30)
    assert results[0] == (1,)
    assert connections_in_use(db) == 0
    for connection in (idle, results[1]):  # both closed: neither leaks nor goes back to the pool
        with pytest.raises(Exception, match="closed"):
            connection.execute("SELECT 1")
    with database.connection_context():  # and the pool opens new ones
        assert database.connection() not in (idle, results[1])
        assert database.execute_sql("SELECT 1").fetchone() == (1,)
    close_database()
