"""/widgets through the WSGI app: listing and pages, the representation, create, read,
update, delete, and every validation rule with good and bad values."""
from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import webtest
from conftest import bearer, register
from widget_helpers import (
    WIDGETS,
    create_widget,
    duration_seconds,
    insert_widgets,
    link_header,
    parse_utc,
    today,
    widget_body,
)

from widgetapi.timeutil import utcnow

VALIDATION_FAILED = "Input payload validation failed"
ADMIN = "admin@example.com"
# webtest sends `Host: localhost:80`; absolute URLs echo it.
BASE = "http://localhost:80"


def widget_names(count: int) -> list[str]:
    return [f"widget-{number:03d}" for number in range(count)]


def get_page(testapp: webtest.TestApp, headers: dict[str, str], query: str = "", status: int = 200):
    return testapp.get(f"{WIDGETS}{query}", headers=headers, status=status)


def assert_validation_failed(response: webtest.TestResponse, fields: set[str]) -> dict[str, str]:
    assert response.status_int == 400
    assert response.json["status"] == "fail"
    assert response.json["message"] == VALIDATION_FAILED
    assert set(response.json["errors"]) == fields
    assert all(isinstance(m, str) and m for m in response.json["errors"].values())
    return response.json["errors"]


# --- listing and pages -----------------------------------------------------------------------

def test_list_needs_a_token(testapp):
    response = testapp.get(WIDGETS, status=401)
    assert response.json == {"status": "fail", "message": "Unauthorized"}


def test_any_logged_in_user_may_list(testapp, user_headers, admin_headers):
    create_widget(testapp, admin_headers, "listed")
    response = get_page(testapp, user_headers)
    assert [item["name"] for item in response.json["items"]] == ["listed"]


def test_empty_list_is_one_page_without_prev_or_next(testapp, user_headers):
    response = get_page(testapp, user_headers)
    body = response.json
    assert body["items"] == []
    assert (body["page"], body["total_pages"], body["total_items"], body["items_per_page"]) == (1, 1, 0, 10)
    assert body["has_prev"] is False and body["has_next"] is False
    assert set(body["links"]) == {"self", "first", "last"}
    assert response.headers["Total-Count"] == "0"


def test_exactly_one_full_page(testapp, user_headers, admin_headers):
    insert_widgets(widget_names(5), ADMIN)
    body = get_page(testapp, user_headers, "?per_page=5").json
    assert len(body["items"]) == 5
    assert (body["total_pages"], body["total_items"]) == (1, 5)
    assert body["has_next"] is False and body["has_prev"] is False
    assert set(body["links"]) == {"self", "first", "last"}


def test_seven_items_five_per_page(testapp, user_headers, admin_headers):
    names = widget_names(7)
    insert_widgets(names, ADMIN)

    first = get_page(testapp, user_headers, "?page=1&per_page=5")
    body = first.json
    assert [item["name"] for item in body["items"]] == names[:5]
    assert (body["page"], body["total_pages"], body["items_per_page"], body["total_items"]) == (1, 2, 5, 7)
    assert body["has_prev"] is False and body["has_next"] is True
    assert set(body["links"]) == {"self", "first", "next", "last"}
    assert first.headers["Total-Count"] == "7"

    # Following the `next` link gives the last page.
    second = testapp.get(body["links"]["next"], headers=user_headers, status=200)
    body = second.json
    assert [item["name"] for item in body["items"]] == names[5:]
    assert body["page"] == 2 and body["has_prev"] is True and body["has_next"] is False
    assert set(body["links"]) == {"self", "first", "prev", "last"}
    assert body["links"]["last"] == body["links"]["self"]
    back = testapp.get(body["links"]["prev"], headers=user_headers).json
    assert (back["page"], back["links"]) == (1, first.json["links"])
    assert [item["name"] for item in back["items"]] == names[:5]


def test_page_past_the_last_is_empty(testapp, user_headers, admin_headers):
    insert_widgets(widget_names(7), ADMIN)
    body = get_page(testapp, user_headers, "?page=3&per_page=5").json
    assert body["items"] == []
    assert (body["page"], body["total_pages"], body["total_items"]) == (3, 2, 7)
    assert body["has_next"] is False
    assert "next" not in body["links"]


@pytest.mark.parametrize("query", ["?per_page=5", "?page=2&per_page=5", "?page=9&per_page=5", ""])
def test_links_are_absolute_and_match_the_link_header(testapp, user_headers, admin_headers, query):
    insert_widgets(widget_names(12), ADMIN)
    response = get_page(testapp, user_headers, query)
    links = response.json["links"]
    assert link_header(response) == links
    expected_per_page = ["5"] if query else ["10"]
    for rel, url in links.items():
        parts = urlsplit(url)
        assert parts.scheme == "http" and parts.netloc == "localhost:80", (rel, url)
        assert parts.path == WIDGETS
        assert parse_qs(parts.query)["per_page"] == expected_per_page
    page_of = {rel: int(parse_qs(urlsplit(url).query)["page"][0]) for rel, url in links.items()}
    body = response.json
    assert page_of["self"] == body["page"] and page_of["first"] == 1
    assert page_of["last"] == body["total_pages"]
    if "next" in page_of:
        assert page_of["next"] == body["page"] + 1


def test_total_count_header(testapp, user_headers, admin_headers):
    insert_widgets(widget_names(12), ADMIN)
    response = get_page(testapp, user_headers, "?per_page=5")
    assert response.headers["Total-Count"] == "12"
    assert response.json["total_items"] == 12


@pytest.mark.parametrize("page", ["0", "-1", "abc", "1.5", "", "100000001"])
def test_bad_page(testapp, user_headers, page):
    response = get_page(testapp, user_headers, f"?page={page}&per_page=5", status=400)
    assert_validation_failed(response, {"page"})


@pytest.mark.parametrize("per_page", ["0", "-1", "abc", "7", "1.5", "1000"])
def test_bad_per_page(testapp, user_headers, per_page):
    response = get_page(testapp, user_headers, f"?page=1&per_page={per_page}", status=400)
    assert_validation_failed(response, {"per_page"})


def test_bad_page_and_per_page_reported_together(testapp, user_headers):
    response = get_page(testapp, user_headers, "?page=0&per_page=abc", status=400)
    assert_validation_failed(response, {"page", "per_page"})


@pytest.mark.parametrize("per_page", [5, 10, 25, 50, 100])
def test_every_allowed_per_page(testapp, user_headers, per_page):
    assert get_page(testapp, user_headers, f"?per_page={per_page}").json["items_per_page"] == per_page


def test_a_page_costs_the_same_queries_whatever_its_size(testapp, user_headers, admin_headers, caplog):
    register(testapp, "second-owner@example.com")
    names = widget_names(25)
    insert_widgets(names[::2], ADMIN)
    insert_widgets(names[1::2], "second-owner@example.com")

    def queries_for(query: str) -> int:
        caplog.clear()
        response = get_page(testapp, user_headers, query)
        count = sum(1 for record in caplog.records if record.name == "peewee")
        assert len(response.json["items"]) == int(query.rsplit("=", 1)[1])
        return count

    with caplog.at_level(logging.DEBUG, logger="peewee"):
        small, large = queries_for("?per_page=5"), queries_for("?per_page=25")
    assert small >= 2  # the count works: the token check, the total and the page at least
    assert small == large


# --- the representation ----------------------------------------------------------------------

def test_items_are_in_creation_order(testapp, user_headers, admin_headers):
    names = ["zeta", "alpha", "mid-1", "beta"]
    for name in names:
        create_widget(testapp, admin_headers, name)
    items = get_page(testapp, user_headers).json["items"]
    assert [item["name"] for item in items] == names


def test_widget_representation(testapp, user_headers, admin_headers):
    deadline = today() + timedelta(days=30)
    before = utcnow().replace(microsecond=0)
    create_widget(testapp, admin_headers, "some-widget", info_url="https://example.com/x?y=1",
                  deadline=deadline.isoformat())
    after = utcnow()
    admin = testapp.get("/api/v1/auth/user", headers=admin_headers).json

    widget = testapp.get(f"{WIDGETS}/some-widget", headers=user_headers).json
    now = utcnow()
    assert set(widget) == {"name", "info_url", "created_at", "deadline", "deadline_passed",
                           "time_remaining", "owner", "link"}
    assert widget["name"] == "some-widget"
    assert widget["info_url"] == "https://example.com/x?y=1"
    assert before <= parse_utc(widget["created_at"]) <= after
    assert widget["deadline"] == f"{deadline.isoformat()}T23:59:59Z"
    assert widget["deadline_passed"] is False
    expected_remaining = (parse_utc(widget["deadline"]) - now).total_seconds()
    assert abs(duration_seconds(widget["time_remaining"]) - expected_remaining) <= 5
    assert widget["owner"] == {"email": ADMIN, "public_id": admin["public_id"]}
    assert widget["link"] == f"{BASE}/api/v1/widgets/some-widget"
    # The list shows the same representation.
    listed = get_page(testapp, user_headers).json["items"]
    assert [{**item, "time_remaining": None} for item in listed] == [{**widget, "time_remaining": None}]


def test_deadline_with_offset_is_shown_in_utc(testapp, user_headers, admin_headers):
    tomorrow = today() + timedelta(days=1)
    create_widget(testapp, admin_headers, "offset", deadline=f"{tomorrow}T12:30:15.75+02:00")
    widget = testapp.get(f"{WIDGETS}/offset", headers=user_headers).json
    assert widget["deadline"] == f"{tomorrow}T10:30:15Z"


def test_a_passed_deadline(testapp, user_headers, admin_headers):
    insert_widgets(["overdue"], ADMIN, deadline=utcnow() - timedelta(days=1, hours=2))
    widget = testapp.get(f"{WIDGETS}/overdue", headers=user_headers).json
    assert widget["deadline_passed"] is True
    assert widget["time_remaining"] == "PT0S"
    item = get_page(testapp, user_headers).json["items"][0]
    assert (item["deadline_passed"], item["time_remaining"]) == (True, "PT0S")


# --- create ----------------------------------------------------------------------------------

def test_admin_creates_a_widget(testapp, user_headers, admin_headers):
    response = testapp.post_json(WIDGETS, widget_body("new-widget"), headers=admin_headers, status=201)
    assert response.json == {"status": "success", "message": "New widget added: new-widget."}
    assert response.headers["Location"] == f"{BASE}/api/v1/widgets/new-widget"
    fetched = testapp.get(urlsplit(response.headers["Location"]).path, headers=user_headers).json
    assert fetched["name"] == "new-widget"


def test_create_needs_a_token(testapp):
    response = testapp.post_json(WIDGETS, widget_body(), status=401)
    assert response.json["message"] == "Unauthorized"


def test_non_admin_cannot_create(testapp, user_headers, admin_headers):
    response = testapp.post_json(WIDGETS, widget_body(), headers=user_headers, status=403)
    assert response.json == {"status": "fail", "message": "You are not an administrator"}
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert get_page(testapp, admin_headers).json["total_items"] == 0


def test_duplicate_name(testapp, admin_headers):
    create_widget(testapp, admin_headers, "twice")
    response = testapp.post_json(WIDGETS, widget_body("twice"), headers=admin_headers, status=409)
    assert response.json == {"status": "fail",
                             "message": "Widget name: twice already exists, must be unique."}
    assert get_page(testapp, admin_headers).json["total_items"] == 1


def test_form_encoded_create(testapp, user_headers, admin_headers):
    tomorrow = (today() + timedelta(days=1)).isoformat()
    response = testapp.post(WIDGETS, {"name": "from-a-form", "info_url": "http://example.com/f",
                                      "deadline": tomorrow}, headers=admin_headers, status=201)
    assert response.json["message"] == "New widget added: from-a-form."
    widget = testapp.get(f"{WIDGETS}/from-a-form", headers=user_headers).json
    assert (widget["info_url"], widget["deadline"]) == ("http://example.com/f", f"{tomorrow}T23:59:59Z")


def test_form_encoded_create_is_validated(testapp, admin_headers):
    response = testapp.post(WIDGETS, {"name": "Bad Name", "info_url": "nope", "deadline": "soon"},
                            headers=admin_headers, status=400)
    assert_validation_failed(response, {"name", "info_url", "deadline"})


def test_form_field_given_twice_is_an_error(testapp, admin_headers):
    tomorrow = (today() + timedelta(days=1)).isoformat()
    body = f"name=a&name=b&info_url=http%3A%2F%2Fexample.com&deadline={tomorrow}"
    response = testapp.post(WIDGETS, body, headers=admin_headers, status=400,
                            content_type="application/x-www-form-urlencoded")
    assert_validation_failed(response, {"name"})


# --- validation: good and bad values for each field ------------------------------------------

GOOD_NAMES = ["a", "7", "some-widget", "under_score", "mix-3_x", "x" * 100]
BAD_NAMES = ["Widget", "some widget", "some.widget", "", "x" * 101, "wïdget", "a/b", " name"]
GOOD_URLS = ["http://example.com", "https://example.com/path?q=1#top", "http://127.0.0.1:8080/x",
             "https://example.com/" + "a" * 235]  # 255 characters
BAD_URLS = ["ftp://example.com/file", "example.com", "//example.com/x", "http://", "https:///path",
            "https://exa mple.com", "https://example.com/a b", "https://example.com/" + "a" * 236, "",
            "javascript:alert(1)", "http://example.com:99999/"]


def good_deadlines() -> list[str]:
    day = today()
    yesterday, tomorrow = day - timedelta(days=1), day + timedelta(days=1)
    return [day.isoformat(), f"{day}T00:00:00", f"{day}T00:00:00Z", tomorrow.isoformat(),
            f"{tomorrow}T08:15:00+05:30", f"{yesterday}T23:30:00-01:00",  # today in UTC
            "9999-12-31"]


def bad_deadlines() -> list[str]:
    day = today()
    yesterday = day - timedelta(days=1)
    return [yesterday.isoformat(), f"{yesterday}T23:59:59Z", f"{day}T00:30:00+01:00",  # yesterday in UTC
            "garbage", "", "2026-13-01", "2026-02-30", f"{day}T25:00:00", "31/12/2099", "tomorrow",
            f"{day}T12:00:00+24:00", "2000-01-01", "0001-01-01T00:30:00+01:00"]


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_names(testapp, admin_headers, name):
    create_widget(testapp, admin_headers, name)
    assert testapp.get(f"{WIDGETS}/{name}", headers=admin_headers).json["name"] == name


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names(testapp, admin_headers, name):
    response = testapp.post_json(WIDGETS, widget_body(name), headers=admin_headers, status=400)
    assert_validation_failed(response, {"name"})


@pytest.mark.parametrize("url", GOOD_URLS)
def test_good_info_urls(testapp, admin_headers, url):
    create_widget(testapp, admin_headers, "w", info_url=url)
    assert testapp.get(f"{WIDGETS}/w", headers=admin_headers).json["info_url"] == url


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_info_urls(testapp, admin_headers, url):
    response = testapp.post_json(WIDGETS, widget_body(info_url=url), headers=admin_headers, status=400)
    assert_validation_failed(response, {"info_url"})


# By place in the list, each made when its test runs: a run that crosses midnight UTC would
# otherwise send yesterday's "today".
@pytest.mark.parametrize("index", range(len(good_deadlines())))
def test_good_deadlines(testapp, admin_headers, index):
    deadline = good_deadlines()[index]
    create_widget(testapp, admin_headers, "w", deadline=deadline)
    widget = testapp.get(f"{WIDGETS}/w", headers=admin_headers).json
    stored = parse_utc(widget["deadline"])
    assert stored.date() >= today()
    if len(deadline) == 10:  # a date alone means the end of that day in UTC
        assert widget["deadline"] == f"{deadline}T23:59:59Z"


@pytest.mark.parametrize("index", range(len(bad_deadlines())))
def test_bad_deadlines(testapp, admin_headers, index):
    deadline = bad_deadlines()[index]
    response = testapp.post_json(WIDGETS, widget_body(deadline=deadline), headers=admin_headers, status=400)
    assert_validation_failed(response, {"deadline"})


def test_deadline_far_in_the_future_with_a_negative_offset(testapp, admin_headers):
    """Past the last representable UTC instant: a 400, not a 500."""
    response = testapp.post_json(WIDGETS, widget_body(deadline="9999-12-31T23:00:00-02:00"),
                                 headers=admin_headers, status=400)
    assert_validation_failed(response, {"deadline"})


def test_deadline_today_earlier_than_now_keeps_its_time(testapp, admin_headers):
    create_widget(testapp, admin_headers, "early", deadline=f"{today()}T00:00:01Z")
    widget = testapp.get(f"{WIDGETS}/early", headers=admin_headers).json
    assert widget["deadline"] == f"{today()}T00:00:01Z"
    assert widget["deadline_passed"] is True and widget["time_remaining"] == "PT0S"


def test_unknown_field(testapp, admin_headers):
    response = testapp.post_json(WIDGETS, widget_body(colour="red"), headers=admin_headers, status=400)
    errors = assert_validation_failed(response, {"colour"})
    assert "not a known field" in errors["colour"]


@pytest.mark.parametrize(("body", "missing"), [
    ({}, {"name", "info_url", "deadline"}),
    ({"name": "only-name"}, {"info_url", "deadline"}),
    ({"info_url": "https://example.com", "deadline": "2999-01-01"}, {"name"}),
])
def test_missing_fields(testapp, admin_headers, body, missing):
    response = testapp.post_json(WIDGETS, body, headers=admin_headers, status=400)
    errors = assert_validation_failed(response, missing)
    assert all("required" in message for message in errors.values())


@pytest.mark.parametrize(("field", "value"), [
    ("name", 123), ("name", None), ("name", ["a"]), ("info_url", 5), ("info_url", {"u": 1}),
    ("deadline", 20991231), ("deadline", True),
])
def test_wrong_types(testapp, admin_headers, field, value):
    response = testapp.post_json(WIDGETS, widget_body(**{field: value}), headers=admin_headers, status=400)
    assert_validation_failed(response, {field})


def test_all_failing_fields_in_one_errors_map(testapp, admin_headers):
    body = {"name": "Not Valid", "info_url": "ftp://example.com",
            "deadline": (today() - timedelta(days=1)).isoformat(), "colour": "red"}
    response = testapp.post_json(WIDGETS, body, headers=admin_headers, status=400)
    assert_validation_failed(response, {"name", "info_url", "deadline", "colour"})
    assert get_page(testapp, admin_headers).json["total_items"] == 0


# --- read one --------------------------------------------------------------------------------

def test_get_by_name_is_case_insensitive_in_the_path(testapp, user_headers, admin_headers):
    create_widget(testapp, admin_headers, "some-widget")
    widget = testapp.get(f"{WIDGETS}/Some-WIDGET", headers=user_headers).json
    assert widget["name"] == "some-widget"
    assert widget["link"].endswith("/widgets/some-widget")


def test_get_missing_widget(testapp, user_headers):
    response = testapp.get(f"{WIDGETS}/no-such-widget", headers=user_headers, status=404)
    assert response.json == {"status": "fail", "message": "no-such-widget not found in database."}


def test_get_one_needs_a_token(testapp, admin_headers):
    create_widget(testapp, admin_headers, "secret")
    testapp.get(f"{WIDGETS}/secret", status=401)


# --- update or create with PUT ---------------------------------------------------------------

def test_put_updates(testapp, user_headers, admin_headers):
    create_widget(testapp, admin_headers, "changing")
    before = testapp.get(f"{WIDGETS}/changing", headers=user_headers).json
    new_deadline = today() + timedelta(days=90)
    response = testapp.put_json(f"{WIDGETS}/changing",
                                {"info_url": "http://example.org/new", "deadline": new_deadline.isoformat()},
                                headers=admin_headers, status=200)
    assert response.json == {"status": "success", "message": "'changing' was successfully updated"}
    after = testapp.get(f"{WIDGETS}/changing", headers=user_headers).json
    assert after["info_url"] == "http://example.org/new"
    assert after["deadline"] == f"{new_deadline}T23:59:59Z"
    for unchanged in ("name", "created_at", "owner", "link"):
        assert after[unchanged] == before[unchanged]
    assert get_page(testapp, user_headers).json["total_items"] == 1


def test_put_with_upper_case_path_updates_the_widget(testapp, admin_headers):
    create_widget(testapp, admin_headers, "changing")
    response = testapp.put_json(f"{WIDGETS}/CHANGING", {"info_url": "http://example.org/new",
                                                         "deadline": "2999-01-01"},
                                headers=admin_headers, status=200)
    assert response.json["message"] == "'changing' was successfully updated"
    assert testapp.get(f"{WIDGETS}/changing", headers=admin_headers).json["info_url"] == "http://example.org/new"


def test_put_form_encoded(testapp, admin_headers):
    create_widget(testapp, admin_headers, "changing")
    testapp.put(f"{WIDGETS}/changing", {"info_url": "https://example.net", "deadline": "2999-01-01"},
                headers=admin_headers, status=200)
    assert testapp.get(f"{WIDGETS}/changing", headers=admin_headers).json["info_url"] == "https://example.net"


def test_put_creates_when_absent(testapp, user_headers, admin_headers):
    response = testapp.put_json(f"{WIDGETS}/New-One", {"info_url": "https://example.com/n",
                                                       "deadline": "2999-06-01"},
                                headers=admin_headers, status=201)
    assert response.json == {"status": "success", "message": "New widget added: new-one."}
    assert response.headers["Location"] == f"{BASE}/api/v1/widgets/new-one"
    widget = testapp.get(f"{WIDGETS}/new-one", headers=user_headers).json
    assert (widget["info_url"], widget["deadline"]) == ("https://example.com/n", "2999-06-01T23:59:59Z")
    assert widget["owner"]["email"] == ADMIN


@pytest.mark.parametrize(("body", "fields"), [
    ({"info_url": "ftp://example.com", "deadline": "2999-01-01"}, {"info_url"}),
    ({"info_url": "https://example.com", "deadline": "2000-01-01"}, {"deadline"}),
    ({"info_url": "https://example.com"}, {"deadline"}),
    ({}, {"info_url", "deadline"}),
    ({"info_url": "https://example.com", "deadline": "2999-01-01", "name": "renamed"}, {"name"}),
    ({"info_url": 1, "deadline": "yesterday", "extra": True}, {"info_url", "deadline", "extra"}),
])
@pytest.mark.parametrize("exists", [True, False])
def test_put_validation(testapp, admin_headers, body, fields, exists):
    if exists:
        create_widget(testapp, admin_headers, "target")
    def stored() -> list[dict]:  # the widgets without time_remaining, which ticks
        return [{**item, "time_remaining": None} for item in get_page(testapp, admin_headers).json["items"]]

    before = stored()
    response = testapp.put_json(f"{WIDGETS}/target", body, headers=admin_headers, status=400)
    assert_validation_failed(response, fields)
    assert stored() == before


@pytest.mark.parametrize("path_name", ["bad.name", "bad%20name", "x" * 101, "b%C3%A4d"])
def test_put_creating_with_an_invalid_name_in_the_path(testapp, admin_headers, path_name):
    response = testapp.put_json(f"{WIDGETS}/{path_name}", {"info_url": "https://example.com",
                                                           "deadline": "2999-01-01"},
                                headers=admin_headers, status=400)
    assert_validation_failed(response, {"name"})
    assert get_page(testapp, admin_headers).json["total_items"] == 0


# The name in the path is checked as sent, before it is lower-cased: "K" (U+212A, the Kelvin
# sign) lower-cases to "k", and a NUL would reach the database (PostgreSQL refuses it: a 500).
KELVIN = "%E2%84%AA"
NOT_NAMES_AS_SENT = [f"{KELVIN}elvin", KELVIN, "%00", "a%00b", "x" * 101, "bad.name", "b%C3%A4d",
                     "%F0%9F%98%80", "a%0Ab"]
NAME_IN_PATH_ERROR = "must be 1 to 100 letters, digits, '-' or '_'"


@pytest.mark.parametrize("path_name", NOT_NAMES_AS_SENT)
def test_get_and_delete_a_name_that_is_not_one_as_sent_is_404(testapp, user_headers, admin_headers,
                                                               path_name):
    for existing in ("k", "kelvin", "ab", "x" * 100):
        create_widget(testapp, admin_headers, existing)
    response = testapp.get(f"{WIDGETS}/{path_name}", headers=user_headers, status=404)
    assert response.json["status"] == "fail" and response.json["message"].endswith(" not found in database.")
    testapp.delete(f"{WIDGETS}/{path_name}", headers=admin_headers, status=404)
    assert get_page(testapp, admin_headers).json["total_items"] == 4


def test_the_kelvin_sign_is_not_k(testapp, user_headers, admin_headers):
    create_widget(testapp, admin_headers, "k")
    response = testapp.get(f"{WIDGETS}/{KELVIN}", headers=user_headers, status=404)
    assert response.json == {"status": "fail", "message": "\u212a not found in database."}
    testapp.get(f"{WIDGETS}/K", headers=user_headers, status=200)  # a plain capital K is k


@pytest.mark.parametrize("path_name", NOT_NAMES_AS_SENT)
def test_put_a_name_that_is_not_one_as_sent_is_a_validation_error(testapp, admin_headers, path_name):
    create_widget(testapp, admin_headers, "kelvin")
    before = testapp.get(f"{WIDGETS}/kelvin", headers=admin_headers).json
    response = testapp.put_json(f"{WIDGETS}/{path_name}", {"info_url": "https://example.com/new",
                                                           "deadline": "2999-01-01"},
                                headers=admin_headers, status=400)
    assert response.json == {"status": "fail", "message": VALIDATION_FAILED,
                             "errors": {"name": NAME_IN_PATH_ERROR}}
    assert [item["name"] for item in get_page(testapp, admin_headers).json["items"]] == ["kelvin"]
    assert testapp.get(f"{WIDGETS}/kelvin", headers=admin_headers).json["info_url"] == before["info_url"]


def test_a_name_of_100_characters_in_any_case_is_one(testapp, user_headers, admin_headers):
    body = {"info_url": "https://example.com", "deadline": "2999-01-01"}
    testapp.put_json(f"{WIDGETS}/{'X' * 100}", body, headers=admin_headers, status=201)
    assert testapp.get(f"{WIDGETS}/{'x' * 99}X", headers=user_headers).json["name"] == "x" * 100
    testapp.delete(f"{WIDGETS}/{'X' * 100}", headers=admin_headers, status=204)


def test_the_administrator_check_comes_before_the_name_check(testapp, user_headers):
    body = {"info_url": "https://example.com", "deadline": "2999-01-01"}
    testapp.put_json(f"{WIDGETS}/{KELVIN}", body, headers=user_headers, status=403)
    testapp.delete(f"{WIDGETS}/%00", headers=user_headers, status=403)
    testapp.get(f"{WIDGETS}/%00", status=401)


def test_non_admin_cannot_put(testapp, user_headers, admin_headers):
    create_widget(testapp, admin_headers, "guarded")
    body = {"info_url": "https://evil.example.com", "deadline": "2999-01-01"}
    testapp.put_json(f"{WIDGETS}/guarded", body, headers=user_headers, status=403)
    testapp.put_json(f"{WIDGETS}/not-there", body, headers=user_headers, status=403)
    assert testapp.get(f"{WIDGETS}/guarded", headers=user_headers).json["info_url"] != body["info_url"]
    testapp.get(f"{WIDGETS}/not-there", headers=user_headers, status=404)


# --- delete ----------------------------------------------------------------------------------

def test_delete(testapp, user_headers, admin_headers):
    create_widget(testapp, admin_headers, "doomed")
    create_widget(testapp, admin_headers, "kept")
    response = testapp.delete(f"{WIDGETS}/Doomed", headers=admin_headers, status=204)
    assert response.body == b""
    testapp.get(f"{WIDGETS}/doomed", headers=user_headers, status=404)
    again = testapp.delete(f"{WIDGETS}/doomed", headers=admin_headers, status=404)
    assert again.json["message"] == "doomed not found in database."
    assert [item["name"] for item in get_page(testapp, user_headers).json["items"]] == ["kept"]


def test_non_admin_cannot_delete(testapp, user_headers, admin_headers):
    create_widget(testapp, admin_headers, "guarded")
    response = testapp.delete(f"{WIDGETS}/guarded", headers=user_headers, status=403)
    assert response.json["message"] == "You are not an administrator"
    testapp.get(f"{WIDGETS}/guarded", headers=user_headers, status=200)


def test_delete_needs_a_token(testapp, admin_headers):
    create_widget(testapp, admin_headers, "guarded")
    testapp.delete(f"{WIDGETS}/guarded", status=401)
    testapp.delete(f"{WIDGETS}/guarded", headers=bearer("not-a-token"), status=401)
    testapp.get(f"{WIDGETS}/guarded", headers=admin_headers, status=200)

