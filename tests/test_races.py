"""Races over real HTTP across two processes on one database (the test's own app under
waitress, and `widgetapi serve`): writers with the same If-Match, and creates at the
MAX_BOOKS_PER_USER limit. Exactly one may win each race, on SQLite and on PostgreSQL."""
from __future__ import annotations

import dataclasses
import functools
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import falcon
import pytest
from book_helpers import BOOKS, book_body
from conftest import GENEROUS_THROTTLE_ENV, SECRET_KEY, bearer, register
from servers import Reply, ServerProcess, race, request, server_process, threaded_server, widgetapi_serve
from widget_helpers import WIDGETS, widget_body

from widgetapi.config import Config

TOKEN_LIFETIME = 300  # no token here expires while a test runs
LIMIT = 5
RACERS = 8  # per race, half to each process
ROUNDS = 5


@pytest.fixture
def config(config: Config) -> Config:
    return dataclasses.replace(config, token_expire_seconds=TOKEN_LIFETIME, max_books_per_user=LIMIT)


@pytest.fixture
def servers(app: falcon.App, database_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two processes serving the test's database: this one and `widgetapi serve`."""
    env = {"WIDGETAPI_ENV": "testing", "DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY,
           "TOKEN_EXPIRE_SECONDS": str(TOKEN_LIFETIME), "MAX_BOOKS_PER_USER": str(LIMIT),
           **GENEROUS_THROTTLE_ENV}
    with threaded_server(app) as here, server_process(widgetapi_serve, env, tmp_path, cwd=tmp_path) as there:
        assert isinstance(there, ServerProcess)
        yield here, there.url


def writers(urls: tuple[str, str], method: str, path: str, body: dict | None,
            headers: dict[str, str]) -> list[Callable[[], Reply]]:
    """RACERS requests, every other one to each process."""
    return [functools.partial(request, urls[number % 2], method, path, body, headers)
            for number in range(RACERS)]


def test_of_writers_with_the_same_if_match_exactly_one_wins(servers, testapp, admin_headers):
    here, _ = servers
    alice = bearer(register(testapp, "alice@example.com"))
    book = request(here, "POST", "/api/v1/books", book_body(), alice)
    assert book.status == 201
    widget = request(here, "POST", WIDGETS, widget_body("contested"), admin_headers)
    assert widget.status == 201
    targets = [(f"{BOOKS}/{book.body['id']}", "PATCH", alice, "book"),
               (f"{WIDGETS}/contested", "PUT", admin_headers, "widget")]
    for round_number in range(ROUNDS):
        for path, method, headers, noun in targets:
            etag = request(here, "GET", path, headers=headers).headers["etag"]
            bodies = {"PATCH": {"price": f"{round_number}.01"},
                      "PUT": {"info_url": f"https://example.com/{round_number}", "deadline": "2999-01-01"}}
            replies = race(writers(servers, method, path, bodies[method], {**headers, "If-Match": etag}))
            statuses = Counter(reply.status for reply in replies)
            assert statuses == {200: 1, 412: RACERS - 1}, (noun, round_number, replies)
            assert all(reply.body["message"] == f"the {noun} has changed since you read it"
                       for reply in replies if reply.status == 412)
            winner = next(reply for reply in replies if reply.status == 200)
            now = request(here, "GET", path, headers=headers).headers["etag"]
            assert now == winner.headers["etag"] != etag
    # and of deletes with the same If-Match, one deletes, the others find it changed (or gone)
    for path, _, headers, _ in targets:
        etag = request(here, "GET", path, headers=headers).headers["etag"]
        replies = race(writers(servers, "DELETE", path, None, {**headers, "If-Match": etag}))
        statuses = Counter(reply.status for reply in replies)
        assert statuses[204] == 1 and statuses[204] + statuses[412] + statuses[404] == RACERS, replies


def test_creates_at_the_limit_cannot_both_pass(servers, testapp):
    here, there = servers
    for round_number in range(ROUNDS):
        headers = bearer(register(testapp, f"collector{round_number}@example.com"))
        for number in range(LIMIT - 1):
            assert request(here, "POST", BOOKS, book_body(f"book {number}"), headers).status == 201
        replies = race(writers(servers, "POST", BOOKS, book_body("one too many?"), headers))
        assert Counter(reply.status for reply in replies) == {201: 1, 409: RACERS - 1}, replies
        assert {reply.body["message"] for reply in replies if reply.status == 409} == {
            f"You already have {LIMIT} books, the most one account may keep."}
        assert request(there, "GET", BOOKS, headers=headers).body["total_items"] == LIMIT
