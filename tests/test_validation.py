"""widgetapi.validation's formats and widgetapi.timeutil, on their own."""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

import pytest

from widgetapi import validation
from widgetapi.spec import load_spec
from widgetapi.timeutil import format_datetime, format_duration, parse_date_or_datetime, utcnow
from widgetapi.validation import (
    Validator,
    check_email,
    check_http_url,
    check_password_bytes,
    check_today_or_later,
)


def rejects(check: Callable[[object], bool], value: str) -> str:
    with pytest.raises(ValueError) as raised:
        check(value)
    return str(raised.value)


@pytest.fixture
def today() -> date:
    """Today's UTC date, waiting out the last seconds before midnight so it stays today."""
    now = utcnow()
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time())
    if midnight - now < timedelta(seconds=5):
        time.sleep((midnight - now).total_seconds() + 0.1)
    return utcnow().date()


# email


@pytest.mark.parametrize("email", ["a@b.co", "x@y.z", "first.last+tag@sub.example.org", "o'neil@example.com",
                                   "user@xn--bcher-kva.example", "ünïcode@exämple.com"])
def test_valid_emails(email: str) -> None:
    assert check_email(email) is True


@pytest.mark.parametrize("email", ["", "plain", "no-at.example.com", "a@b", "a@@b.co", "a@b@c.co",
                                   "a b@c.co", "a@b .co", " a@b.co", "a@b.co\n", "@b.co", "a@.", "a@b.",
                                   "a\x00b@c.co", "a@b.c\x00o", "a\x1b@b.co", "a\x7f@b.co"])
def test_invalid_emails(email: str) -> None:
    assert rejects(check_email, email) == f"{email} is not a valid email"


def test_email_format_ignores_non_strings() -> None:
    """The schema's type check reports those; a format check must not crash on them."""
    for value in (None, 42, ["a@b.co"], {"a": 1}):
        assert check_email(value) is True


# http-url


@pytest.mark.parametrize("url", ["http://example.com", "https://example.com/some/path?q=1#frag",
                                 "http://localhost:8000/", "https://127.0.0.1", "http://[::1]:8080/x",
                                 "HTTPS://EXAMPLE.COM", "https://user:pw@example.com/"])
def test_valid_http_urls(url: str) -> None:
    assert check_http_url(url) is True


@pytest.mark.parametrize("url", [
    "ftp://example.com/file", "mailto:a@b.co", "javascript:alert(1)", "file:///etc/passwd",
    "http://", "https://", "http:///path", "http://:80/", "http://user@/",
    "example.com", "/relative/path", "//example.com/x", "",
    "http://exa mple.com", "http://example.com/a b", " http://example.com", "http://example.com\t",
    "http://example.com:99999", "http://example.com:abc", "http://example.com:0", "http://example.com:-1",
    "http://[::1", "http://[not-ipv6]/",
    "http://example.com/\x00", "http://exa\x00mple.com/", "http://example.com/\x1b[31m", "http://example.com/\x7f",
])
def test_invalid_http_urls(url: str) -> None:
    assert rejects(check_http_url, url) == f"{url} is not a valid http or https URL"


# today-or-later


def test_today_as_a_date_is_accepted(today: date) -> None:
    assert check_today_or_later(today.isoformat()) is True


def test_today_earlier_in_the_day_is_accepted(today: date) -> None:
    """The time of day is not compared: midnight today is fine at any hour."""
    for text in (f"{today}T00:00:00Z", f"{today}T00:00:00", f"{today}T00:00:01.5+00:00", f"{today} 00:00"):
        assert check_today_or_later(text) is True


def test_later_days_are_accepted(today: date) -> None:
    assert check_today_or_later((today + timedelta(days=1)).isoformat()) is True
    assert check_today_or_later(f"{today.year + 5}-01-01T12:00:00Z") is True
    assert check_today_or_later("9999-12-31") is True


def test_yesterday_is_refused(today: date) -> None:
    yesterday = today - timedelta(days=1)
    for text in (yesterday.isoformat(), f"{yesterday}T23:59:59Z", f"{yesterday}T23:59:59.999999"):
        message = rejects(check_today_or_later, text)
        assert message == f"{text} is in the past: the date must be today (UTC) or later"
    assert "is in the past" in rejects(check_today_or_later, "2020-01-01")


def test_an_offset_that_moves_the_date_into_yesterday_is_refused(today: date) -> None:
    """00:30 today at +01:00 is 23:30 yesterday in UTC."""
    text = f"{today}T00:30:00+01:00"
    assert "is in the past" in rejects(check_today_or_later, text)


def test_an_offset_that_moves_the_date_into_today_is_accepted(today: date) -> None:
    """23:30 yesterday at -01:00 is 00:30 today in UTC."""
    yesterday = today - timedelta(days=1)
    assert check_today_or_later(f"{yesterday}T23:30:00-01:00") is True
    assert check_today_or_later(f"{yesterday}T14:00:00-10:00") is True


@pytest.mark.parametrize("text", [
    "", "tomorrow", "2020-02-30", "2026-13-01", "2026-00-10", "2026-12-32", "2026-1-1", "26-01-01",
    "20261231", "2026-12-31T", "2026-12-31T25:00", "2026-12-31T10:60", "2026-12-31T10:00:61",
    "2026-12-31T10:00:00+24:00", "2026-12-31T10:00:00+01:75", "2026-12-31T10:00:00 UTC",
    "2026-12-31Z", " 2026-12-31", "2026-12-31 ", "9999-12-31T23:30:00-01:00", "0001-01-01T00:10:00+01:00",
])
def test_garbage_deadlines_are_refused(text: str) -> None:
    assert rejects(check_today_or_later, text) == f"{text} is not an ISO 8601 date or date-time"


# password bytes


@pytest.mark.parametrize("password", ["x" * 72, "é" * 36, "😀" * 18, "short"])
def test_passwords_of_72_bytes_or_fewer(password: str) -> None:
    assert check_password_bytes(password) is True


@pytest.mark.parametrize("password", ["x" * 73, "é" * 37, "😀" * 19, "x" * 71 + "é"])
def test_passwords_over_72_bytes(password: str) -> None:
    assert rejects(check_password_bytes, password) == "must be at most 72 bytes in UTF-8"


# The formats inside the spec's schemas


def test_schemas_use_the_formats_and_report_every_field(today: date) -> None:
    validator = Validator(load_spec())
    errors = validator.errors("/components/schemas/NewWidget", {
        "name": "Not Valid", "info_url": "ftp://example.com", "deadline": "2020-02-30", "colour": "red"})
    assert errors == {
        "name": "must be 1 to 100 lowercase letters, digits, '-' or '_'",
        "info_url": "ftp://example.com is not a valid http or https URL",
        "deadline": "2020-02-30 is not an ISO 8601 date or date-time",
        "colour": "is not a known field",
    }
    assert validator.errors("/components/schemas/NewWidget", {
        "name": "ok", "info_url": "https://example.com", "deadline": today.isoformat()}) == {}


def test_registration_schema(today: date) -> None:
    validator = Validator(load_spec())
    errors = validator.errors("/components/schemas/Registration", {"email": "a@b.co", "password": "é" * 37})
    assert errors == {"password": "must be at most 72 bytes in UTF-8"}
    assert validator.errors("/components/schemas/Registration", {"email": "a" * 250 + "@b.co",
                                                                 "password": "x" * 8}) == {
        "email": "must be at most 254 characters"}


# timeutil


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-12-31", datetime(2026, 12, 31, 23, 59, 59)),
    ("2024-02-29", datetime(2024, 2, 29, 23, 59, 59)),
    ("2026-12-31T10:00", datetime(2026, 12, 31, 10, 0)),
    ("2026-12-31T10:00:05", datetime(2026, 12, 31, 10, 0, 5)),
    ("2026-12-31 10:00:05", datetime(2026, 12, 31, 10, 0, 5)),
    ("2026-12-31t10:00:05z", datetime(2026, 12, 31, 10, 0, 5)),
    ("2026-12-31T10:00:05Z", datetime(2026, 12, 31, 10, 0, 5)),
    ("2026-12-31T10:00:05.5Z", datetime(2026, 12, 31, 10, 0, 5, 500000)),
    ("2026-12-31T10:00:05.123456789Z", datetime(2026, 12, 31, 10, 0, 5, 123456)),
    ("2026-12-31T10:00:05+00:00", datetime(2026, 12, 31, 10, 0, 5)),
    ("2026-12-31T10:00:05+02:00", datetime(2026, 12, 31, 8, 0, 5)),
    ("2026-12-31T10:00:05+0200", datetime(2026, 12, 31, 8, 0, 5)),
    ("2026-12-31T10:00:05-05:30", datetime(2026, 12, 31, 15, 30, 5)),
    ("2026-12-31T23:30:00-01:00", datetime(2027, 1, 1, 0, 30)),
    ("2027-01-01T00:30:00+01:00", datetime(2026, 12, 31, 23, 30)),
    ("2026-12-31T10:00:05+23:59", datetime(2026, 12, 30, 10, 1, 5)),
])
def test_parse_date_or_datetime(text: str, expected: datetime) -> None:
    parsed = parse_date_or_datetime(text)
    assert parsed == expected
    assert parsed.tzinfo is None


@pytest.mark.parametrize("text", [
    "2020-02-30", "2023-02-29", "2026-12-31T24:00", "2026-12-31T10:00:00+24:00", "2026-12-31T10:00:00+01:60",
    "2026-12-31T10:00:00+1:00", "2026-12-31T10:00:00+01", "2026-W53", "2026-365", "not a date", "",
    "9999-12-31T23:30:00-01:00",
])
def test_parse_date_or_datetime_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_date_or_datetime(text)


@pytest.mark.parametrize(("delta", "expected"), [
    (timedelta(0), "PT0S"),
    (timedelta(seconds=-1), "PT0S"),
    (timedelta(days=-3), "PT0S"),
    (timedelta(milliseconds=999), "PT0S"),
    (timedelta(seconds=1), "PT1S"),
    (timedelta(seconds=90), "PT1M30S"),
    (timedelta(hours=1), "PT1H"),
    (timedelta(hours=1, seconds=1), "PT1H1S"),
    (timedelta(days=1), "P1D"),
    (timedelta(days=1, seconds=1), "P1DT1S"),
    (timedelta(days=39, hours=13, minutes=59, seconds=59), "P39DT13H59M59S"),
    (timedelta(days=400), "P400D"),
])
def test_format_duration(delta: timedelta, expected: str) -> None:
    assert format_duration(delta) == expected


def test_format_datetime() -> None:
    assert format_datetime(datetime(2026, 11, 22, 10, 0)) == "2026-11-22T10:00:00Z"
    assert format_datetime(datetime(2026, 12, 31, 23, 59, 59, 999999)) == "2026-12-31T23:59:59Z"
    assert format_datetime(datetime(2026, 1, 2, 3, 4, 5, 6)) == "2026-01-02T03:04:05Z"
    moment = datetime(2026, 5, 6, 7, 8, 9)
    assert parse_date_or_datetime(format_datetime(moment)) == moment


def test_utcnow_is_naive_utc() -> None:
    now = utcnow()
    assert now.tzinfo is None
    assert abs(now - datetime.now(timezone.utc).replace(tzinfo=None)) < timedelta(minutes=1)


# hostile input: validation costs time linear in the input and bounded by the schema

BACKTRACKER = "a@" + "a." * 30000 + "@"  # quadratic for the old email regex


def test_the_email_check_is_a_linear_scan_and_refuses_the_backtracker() -> None:
    assert rejects(check_email, BACKTRACKER) == f"{BACKTRACKER} is not a valid email"
    assert not hasattr(validation, "EMAIL")  # no regex left to backtrack


@pytest.fixture
def seen_by_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The lengths of the strings the pattern and the email format get to see (the real
    checks still run)."""
    lengths: list[int] = []
    real_pattern, real_email = validation.pattern_matches, validation._plausible_email

    def pattern_matches(pattern: str, instance: str) -> bool:
        lengths.append(len(instance))
        return real_pattern(pattern, instance)

    def plausible_email(value: str) -> bool:
        lengths.append(len(value))
        return real_email(value)

    monkeypatch.setattr(validation, "pattern_matches", pattern_matches)
    monkeypatch.setattr(validation, "_plausible_email", plausible_email)
    return lengths


@pytest.mark.parametrize("path", ["/api/v1/auth/login", "/api/v1/auth/register"])
def test_an_over_long_email_is_refused_by_its_length_alone(testapp, seen_by_checks: list[int],
                                                          path: str) -> None:
    response = testapp.post_json(path, {"email": BACKTRACKER, "password": "x" * 8}, status=400)
    assert response.json["errors"] == {"email": "must be at most 254 characters"}
    assert seen_by_checks == []  # the format never ran


def test_checks_never_see_more_than_the_limit(seen_by_checks: list[int]) -> None:
    validator = Validator(load_spec())
    errors = validator.errors("/components/schemas/NewWidget", {
        "name": "a" * 60000, "info_url": "https://example.com/" + "a" * 60000, "deadline": "2099-01-01"})
    assert set(errors) == {"name", "info_url"}
    validator.errors("/components/schemas/Registration", {"email": "a" * 250 + "@b.co", "password": "x" * 8})
    assert seen_by_checks and max(seen_by_checks) == len("2099-01-01")  # only the deadline was checked
    validator.errors("/components/schemas/Registration", {"email": "alice@example.com", "password": "x" * 8})
    assert seen_by_checks[-1] == len("alice@example.com")
    validator.errors("/components/schemas/NewWidget", {"name": "a" * 100, "info_url": "https://example.com",
                                                       "deadline": "2099-01-01"})
    assert max(seen_by_checks) == 100  # a name of the limit is checked


@pytest.mark.parametrize("name", ["evil\n", "evil\r\n", "\nevil", "ev\nil", "evil\u2028", "ok\x00"])
def test_widget_name_patterns_match_the_whole_string(name: str) -> None:
    errors = Validator(load_spec()).errors("/components/schemas/NewWidget", {
        "name": name, "info_url": "https://example.com", "deadline": "2099-01-01"})
    assert errors == {"name": "must be 1 to 100 lowercase letters, digits, '-' or '_'"}


def test_patterns_have_ecma_262_semantics() -> None:
    assert validation.pattern_matches("^[a-z0-9_-]+$", "evil")
    assert not validation.pattern_matches("^[a-z0-9_-]+$", "evil\n")  # Python's re.search would match
    assert validation.pattern_matches("b", "abc")  # unanchored, as JSON Schema says
    assert not validation.pattern_matches(r"^\d+$", "١٢")  # \d is ASCII digits in ECMA-262


def test_a_hostile_body_does_not_hold_up_a_concurrent_request(app) -> None:
    from servers import race, request, threaded_server

    with threaded_server(app, threads=4) as url:
        replies = race([
            lambda: request(url, "POST", "/api/v1/auth/login", {"email": BACKTRACKER, "password": "x"}),
            lambda: request(url, "POST", "/api/v1/auth/register",
                            {"email": BACKTRACKER, "password": "x" * 8}),
            lambda: request(url, "GET", "/api/v1/health"),
        ])
    assert [reply.status for reply in replies] == [400, 400, 200]
    assert replies[0].body["errors"]["email"] == "must be at most 254 characters"


@pytest.mark.parametrize("url", [
    "http://example.com\\@evil.example/",  # a browser's host is example.com, urlsplit's evil.example
    "https://example.com\\evil", "http://example.com/\u202egpj.exe", "http://exa\u200bmple.com/",
    "http://example.com/\ufeff", "http://example.com/\u2028",
])
def test_urls_that_parsers_or_readers_see_differently_are_refused(url: str) -> None:
    """A backslash is a `/` to browsers (WHATWG URL) but not to Python, so the host a client
    follows would not be the one checked; invisible and bidi format characters make a URL
    read as another."""
    assert rejects(check_http_url, url) == f"{url} is not a valid http or https URL"


def test_parameter_verdicts_are_those_of_errors_and_remembered_only_for_short_values() -> None:
    validator = Validator(load_spec())
    name_in_path = "/components/parameters/WidgetNameInPath/schema"
    per_page = "/components/parameters/PerPage/schema"
    cases: list[tuple[str, int | str]] = [
        (name_in_path, "gadget"), (name_in_path, "K\u212a"), (name_in_path, "a" * 101),
        (per_page, 10), (per_page, 7), (per_page, "ten"), (name_in_path, "x" * 500)]
    for _ in range(2):
        for pointer, value in cases:
            assert validator.parameter_errors(pointer, value, "p") == validator.errors(pointer, value, "p")
    validator.parameter_errors(per_page, 7, "p")["p"] = "changed by a caller"
    assert validator.parameter_errors(per_page, 7, "p") == validator.errors(per_page, 7, "p")
    assert validator._remembered.cache_info().currsize == len(cases) - 1  # not the 500 characters
