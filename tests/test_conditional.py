"""Conditional requests on widgets (widgetapi/conditional.py): strong ETags from the row
version, 304 for If-None-Match, 412 for a stale If-Match, create-only PUT. Books: test_books.py;
the race of two writers over real HTTP: test_conditional_race.py."""
from __future__ import annotations

import json

import webtest
from conftest import PASSWORD, bearer, login, register
from widget_helpers import WIDGETS, create_widget, widget_body

from widgetapi.config import Config
from widgetapi.db import database
from widgetapi.operations import create_admin
from widgetapi.widgets import Widget

GADGET = f"{WIDGETS}/gadget"
UPDATE = {"info_url": "https://example.com/v2", "deadline": "2999-01-01"}
CHANGED = "the widget has changed since you read it"


def etag_of(testapp: webtest.TestApp, headers: dict[str, str], path: str = GADGET) -> str:
    etag = testapp.get(path, headers=headers, status=200).headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")  # strong
    return etag


def test_a_widget_read_carries_a_strong_etag_that_changes_with_every_write(testapp, admin_headers):
    created = testapp.post_json(WIDGETS, widget_body("gadget"), headers=admin_headers, status=201)
    first = etag_of(testapp, admin_headers)
    assert created.headers["ETag"] == first
    assert etag_of(testapp, admin_headers) == first  # time_remaining changed; the ETag did not
    updated = testapp.put_json(GADGET, UPDATE, headers=admin_headers, status=200)
    second = etag_of(testapp, admin_headers)
    assert updated.headers["ETag"] == second != first
    testapp.put_json(GADGET, UPDATE, headers=admin_headers, status=200)  # the same values: still a write
    assert etag_of(testapp, admin_headers) not in (first, second)


def test_a_widget_made_again_under_its_old_name_has_another_etag(testapp, admin_headers):
    create_widget(testapp, admin_headers, "gadget")
    before = etag_of(testapp, admin_headers)
    testapp.delete(GADGET, headers=admin_headers, status=204)
    create_widget(testapp, admin_headers, "gadget")
    assert etag_of(testapp, admin_headers) != before
    testapp.delete(GADGET, headers={**admin_headers, "If-Match": before}, status=412)


def test_if_none_match_gives_304_with_the_etag_and_no_body(testapp, admin_headers, user_headers):
    create_widget(testapp, admin_headers, "gadget")
    etag = etag_of(testapp, user_headers)
    for sent in (etag, "*", f'"other", {etag}', f"W/{etag}"):
        response = testapp.get(GADGET, headers={**user_headers, "If-None-Match": sent}, status=304)
        assert response.headers["ETag"] == etag and response.body == b""
    head = testapp.head(GADGET, headers={**user_headers, "If-None-Match": etag}, status=304)
    assert head.headers["ETag"] == etag
    other = testapp.get(GADGET, headers={**user_headers, "If-None-Match": '"other"'}, status=200)
    assert other.json["name"] == "gadget" and other.headers["ETag"] == etag


def test_a_stale_if_match_is_412_and_writes_nothing(testapp, admin_headers):
    create_widget(testapp, admin_headers, "gadget", info_url="https://example.com/v1")
    old = etag_of(testapp, admin_headers)
    testapp.put_json(GADGET, UPDATE, headers={**admin_headers, "If-Match": old}, status=200)
    stale = {**admin_headers, "If-Match": old}
    for response in (testapp.put_json(GADGET, {**UPDATE, "info_url": "https://example.com/v3"}, headers=stale,
                                      status=412),
                     testapp.delete(GADGET, headers=stale, status=412)):
        assert response.json == {"status": "fail", "message": CHANGED}
    assert testapp.get(GADGET, headers=admin_headers).json["info_url"] == "https://example.com/v2"
    # a weak tag never matches If-Match (strong comparison); the current one does, and "*"
    current = etag_of(testapp, admin_headers)
    testapp.put_json(GADGET, UPDATE, headers={**admin_headers, "If-Match": f"W/{current}"}, status=412)
    testapp.put_json(GADGET, UPDATE, headers={**admin_headers, "If-Match": f'"x", {current}'}, status=200)
    testapp.put_json(GADGET, UPDATE, headers={**admin_headers, "If-Match": "*"}, status=200)
    for blank in ("", ", ,"):  # an empty list names no ETag: not the same as no header
        testapp.put_json(GADGET, UPDATE, headers={**admin_headers, "If-Match": blank}, status=412)
        testapp.delete(GADGET, headers={**admin_headers, "If-Match": blank}, status=412)
    testapp.delete(GADGET, headers={**admin_headers, "If-Match": etag_of(testapp, admin_headers)}, status=204)


def test_put_with_if_match_never_creates(testapp, admin_headers):
    for sent in ("*", '"anything"'):
        response = testapp.put_json(GADGET, UPDATE, headers={**admin_headers, "If-Match": sent}, status=412)
        assert response.json["message"] == CHANGED
    testapp.get(GADGET, headers=admin_headers, status=404)
    # DELETE of a widget that is not there stays 404, whatever the precondition
    testapp.delete(GADGET, headers={**admin_headers, "If-Match": "*"}, status=404)


def test_put_with_if_none_match_star_creates_only(testapp, admin_headers):
    created = testapp.put_json(GADGET, UPDATE, headers={**admin_headers, "If-None-Match": "*"}, status=201)
    assert created.headers["ETag"] == etag_of(testapp, admin_headers)
    response = testapp.put_json(GADGET, {**UPDATE, "info_url": "https://example.com/no"},
                                headers={**admin_headers, "If-None-Match": "*"}, status=412)
    assert response.json["message"] == CHANGED
    assert testapp.get(GADGET, headers=admin_headers).json["info_url"] == UPDATE["info_url"]


def test_the_owner_s_account_deletion_changes_the_etag(testapp, admin_headers, config: Config):
    create_admin(config, "owner@example.com", lambda: PASSWORD)
    owner = bearer(login(testapp, "owner@example.com"))
    create_widget(testapp, owner, "gadget")
    before = etag_of(testapp, admin_headers)
    testapp.delete("/api/v1/auth/user", params=json.dumps({"current_password": PASSWORD}),
                   content_type="application/json", headers=owner, status=204)
    after = testapp.get(GADGET, headers=admin_headers)
    assert after.json["owner"] is None and after.headers["ETag"] != before
    testapp.get(GADGET, headers={**admin_headers, "If-None-Match": before}, status=200)


def test_without_the_headers_everything_works_as_before(testapp, admin_headers):
    register(testapp, "someone@example.com")
    create_widget(testapp, admin_headers, "gadget")
    testapp.put_json(GADGET, UPDATE, headers=admin_headers, status=200)
    testapp.put_json(f"{WIDGETS}/new-one", UPDATE, headers=admin_headers, status=201)
    testapp.delete(GADGET, headers=admin_headers, status=204)
    with database.connection_context():
        assert Widget.get(Widget.name == "new-one").version == 1
