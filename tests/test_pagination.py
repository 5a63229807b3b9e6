"""Page parameters (widgetapi/pagination.py): a whole number is written in ASCII digits."""
from __future__ import annotations

import itertools
import threading
from dataclasses import replace
from datetime import datetime

import falcon
import pytest
import webtest
from conftest import PASSWORD, bearer
from servers import request, threaded_server

from widgetapi.app import create_app
from widgetapi.config import Config
from widgetapi.db import database
from widgetapi.widgets import Widget

WIDGETS = "/api/v1/widgets"


@pytest.mark.parametrize("value", ["1_0", "%D9%A1", "%EF%BC%91", "%201", "1%20", "+1", "0x10", "1e1", ""])
@pytest.mark.parametrize("name", ["page", "per_page"])
def test_a_number_python_reads_but_a_client_would_not_write_is_refused(
        testapp: webtest.TestApp, user_headers: dict[str, str], name: str, value: str) -> None:
    """int() takes `1_0` (10), Arabic-Indic and full-width digits and spaces around them;
    the spec's integer does not."""
    response = testapp.get(f"{WIDGETS}?{name}={value}", headers=user_headers, status=400)
    assert response.json["errors"] == {name: "must be a whole number"}


def test_page_numbers_in_ascii_digits_are_read(testapp: webtest.TestApp,
                                               user_headers: dict[str, str]) -> None:
    body = testapp.get(f"{WIDGETS}?page=002&per_page=010", headers=user_headers, status=200).json
    assert (body["page"], body["items_per_page"]) == (2, 10)
    response = testapp.get(f"{WIDGETS}?page=-1", headers=user_headers, status=400)
    assert response.json["errors"] == {"page": "must be at least 1"}
    response = testapp.get(f"{WIDGETS}?page={'9' * 30}", headers=user_headers, status=400)
    assert response.json["errors"] == {"page": "must be at most 100000000"}
    response = testapp.get(f"{WIDGETS}?page={'9' * 5000}", headers=user_headers, status=400)
    assert response.json["errors"] == {"page": "must be a whole number"}


READS = 400  # pages read while a writer appends; enough to catch two snapshots before the fix
PER_PAGE = 5


def test_every_page_agrees_with_its_count_while_another_thread_writes(
        app: falcon.App, config: Config) -> None:
    """Count and page come from one snapshot: with widgets appended without pause, each
    page of the last ones holds exactly the widgets its total_items puts there, never one
    appended after the count. Widget k (from 1) is named w<k>, so its place is its name."""
    stop = threading.Event()

    def append() -> None:
        with database.connection_context():
            for number in itertools.count(1):
                if stop.is_set():
                    return
                Widget.create(name=f"w{number:07d}", info_url="https://example.com/info",
                              deadline=datetime(2100, 1, 1))

    writer = threading.Thread(target=append)
    served = create_app(replace(config, token_expire_seconds=300))  # the tables come from `app`
    with threaded_server(served, threads=4) as base_url:
        token = request(base_url, "POST", "/api/v1/auth/register",
                        {"email": "reader@example.com", "password": PASSWORD}).body["access_token"]
        user_headers = bearer(token)
        writer.start()
        try:
            wrong = []
            for _ in range(READS):
                first = request(base_url, "GET", f"{WIDGETS}?per_page={PER_PAGE}", headers=user_headers)
                last = first.body["total_pages"]
                reply = request(base_url, "GET", f"{WIDGETS}?page={last}&per_page={PER_PAGE}",
                                headers=user_headers)
                assert reply.status == 200, reply.body
                body = reply.body
                start, total = (body["page"] - 1) * PER_PAGE, body["total_items"]
                expected = [f"w{k:07d}" for k in range(start + 1, min(start + PER_PAGE, total) + 1)]
                if [item["name"] for item in body["items"]] != expected:
                    wrong.append((total, [item["name"] for item in body["items"]]))
        finally:
            stop.set()
            writer.join(timeout=30)
    assert wrong == []


def test_page_links_are_written_as_urlencode_writes_them(testapp: webtest.TestApp,
                                                         admin_headers: dict[str, str]) -> None:
    from urllib.parse import urlencode

    response = testapp.get("/api/v1/widgets?per_page=5&page=1", headers=admin_headers, status=200)
    expected = f"http://localhost:80/api/v1/widgets?{urlencode({'page': 1, 'per_page': 5})}"
    assert response.json["links"]["self"] == expected
