"""Helpers shared by the widget tests: request bodies, direct inserts and response parsing."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

import webtest

from widgetapi.db import database
from widgetapi.models import User
from widgetapi.timeutil import utcnow
from widgetapi.widgets import Widget

WIDGETS = "/api/v1/widgets"
_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?([^";,]+)"?')
_DURATION = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")


def today() -> date:
    return utcnow().date()


def widget_body(name: str = "some-widget", **fields: Any) -> dict[str, Any]:
    """A valid POST body; keyword arguments replace or add fields."""
    body = {"name": name, "info_url": "https://example.com/info",
            "deadline": (today() + timedelta(days=30)).isoformat()}
    body.update(fields)
    return body


def create_widget(testapp: webtest.TestApp, headers: dict[str, str], name: str, **fields: Any) -> None:
    testapp.post_json(WIDGETS, widget_body(name, **fields), headers=headers, status=201)


def insert_widgets(names: list[str], owner_email: str, deadline: datetime | None = None) -> None:
    """Insert widgets straight into the database, owned by an existing user."""
    deadline = deadline or utcnow() + timedelta(days=7)
    with database.connection_context():
        owner = User.get(User.email == owner_email)
        for name in names:
            Widget.create(name=name, info_url=f"https://example.com/{name}", deadline=deadline, owner=owner)


def link_header(response: webtest.TestResponse) -> dict[str, str]:
    """The RFC 8288 Link header(s) as {rel: url}."""
    links: dict[str, str] = {}
    for value in response.headers.getall("Link"):
        for url, rel in _LINK.findall(value):
            assert rel not in links, f"rel {rel} appears twice"
            links[rel] = url
    return links


def duration_seconds(text: str) -> int:
    """Seconds in an ISO 8601 duration of days, hours, minutes and seconds."""
    match = _DURATION.fullmatch(text)
    assert match and text not in ("P", "PT") and not text.endswith("T"), f"not an ISO 8601 duration: {text}"
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def parse_utc(text: str) -> datetime:
    """A `...Z` timestamp from the API as a naive UTC datetime."""
    pattern = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"
    assert re.fullmatch(pattern, text), f"not ISO 8601 UTC to the second: {text}"
    return datetime.fromisoformat(text[:-1])
