"""/books through the WSGI app: ownership on every route (two users and an administrator),
the representation, validation (price above all), the per-account limit, conditional
requests, and what deleting an account does to its books."""
from __future__ import annotations

import dataclasses
import json
import uuid
from urllib.parse import unquote

import pytest
import webtest
from book_helpers import BOOKS, book_body, create_book
from conftest import PASSWORD, bearer, register
from servers import request, threaded_server

from widgetapi.books import Book
from widgetapi.config import Config
from widgetapi.db import database

VALIDATION_FAILED = "Input payload validation failed"
LIMIT = 3


@pytest.fixture
def config(config: Config) -> Config:
    return dataclasses.replace(config, max_books_per_user=LIMIT)


@pytest.fixture
def alice(testapp: webtest.TestApp) -> dict[str, str]:
    return bearer(register(testapp, "alice@example.com"))


@pytest.fixture
def bob(testapp: webtest.TestApp) -> dict[str, str]:
    return bearer(register(testapp, "bob@example.com"))


def not_found(book_id: object) -> dict[str, str]:
    return {"status": "fail", "message": f"Book {book_id} not found."}


def errors(response: webtest.TestResponse) -> dict[str, str]:
    assert response.status_int == 400 and response.json["message"] == VALIDATION_FAILED
    return dict(response.json["errors"])


# --- the representation ---------------------------------------------------------------------

def test_a_created_book_is_answered_with_its_location_and_etag(testapp, alice):
    response = testapp.post_json(BOOKS, book_body(price=12.5), headers=alice, status=201)
    book = response.json
    assert set(book) == {"id", "name", "author", "publisher", "price", "created_at", "updated_at",
                         "owner", "link"}
    assert uuid.UUID(book["id"]).version == 4
    assert (book["name"], book["author"], book["publisher"], book["price"]) == (
        "Dune", "Frank Herbert", "Chilton", "12.50")
    assert book["owner"]["email"] == "alice@example.com"
    assert book["link"] == response.headers["Location"] == f"http://localhost:80{BOOKS}/{book['id']}"
    assert book["created_at"] == book["updated_at"] and book["created_at"].endswith("Z")
    read = testapp.get(f"{BOOKS}/{book['id']}", headers=alice, status=200)
    assert read.json == book and read.headers["ETag"] == response.headers["ETag"]


def test_a_form_body_works_too_and_text_is_trimmed(testapp, alice):
    form = {"name": "  The Hobbit\t", "author": " J. R. R. Tolkien ", "publisher": "Allen & Unwin",
            "price": "7"}
    book = testapp.post(BOOKS, form, headers=alice, status=201).json
    assert (book["name"], book["author"], book["publisher"], book["price"]) == (
        "The Hobbit", "J. R. R. Tolkien", "Allen & Unwin", "7.00")


# --- ownership, on every route --------------------------------------------------------------

def test_a_user_s_list_shows_their_own_books_only(testapp, alice, bob, admin_headers):
    create_book(testapp, alice, "A1")
    create_book(testapp, bob, "B1")
    create_book(testapp, alice, "A2")
    create_book(testapp, admin_headers, "Admin's")
    for headers, names in ((alice, ["A1", "A2"]), (bob, ["B1"]), (admin_headers, ["Admin's"])):
        page = testapp.get(BOOKS, headers=headers, status=200)
        assert [item["name"] for item in page.json["items"]] == names
        assert page.json["total_items"] == len(names) and page.headers["Total-Count"] == str(len(names))


def test_another_user_s_book_is_404_for_every_method_and_unchanged(testapp, alice, bob):
    book = create_book(testapp, alice)
    path = f"{BOOKS}/{book['id']}"
    etag = testapp.get(path, headers=alice).headers["ETag"]
    assert testapp.get(path, headers=bob, status=404).json == not_found(book["id"])
    assert testapp.head(path, headers=bob, status=404).body == b""
    assert testapp.patch_json(path, {"price": "1"}, headers=bob, status=404).json == not_found(book["id"])
    assert testapp.delete(path, headers=bob, status=404).json == not_found(book["id"])
    # the 404 comes before any precondition: a right ETag or a wrong one says nothing more
    for sent in (etag, '"wrong"', "*"):
        conditional = {**bob, "If-Match": sent}
        response = testapp.patch_json(path, {"price": "1"}, headers=conditional, status=404)
        assert response.json == not_found(book["id"])
        assert testapp.delete(path, headers=conditional, status=404).json == not_found(book["id"])
        testapp.get(path, headers={**bob, "If-None-Match": sent}, status=404)
    assert testapp.get(path, headers=alice, status=200).json == book


def test_a_missing_or_malformed_id_is_the_same_404(testapp, alice):
    for book_id in (uuid.uuid4(), "not-a-uuid", "1", "5b0bd4f3-8f0a-4f57-9d37-7fe1d7b1e1a"):
        path = f"{BOOKS}/{book_id}"
        assert testapp.get(path, headers=alice, status=404).json == not_found(book_id)
        assert testapp.patch_json(path, {"price": "1"}, headers=alice, status=404).json == not_found(book_id)
        assert testapp.delete(path, headers=alice, status=404).json == not_found(book_id)
    testapp.get(f"{BOOKS}/{uuid.uuid4()}", status=401)  # no token: 401 first
    testapp.get(f"{BOOKS}/not-a-uuid", status=401)


def test_a_book_has_one_id_in_the_spec_s_uuid_form_in_either_case(testapp, alice):
    """Python's uuid.UUID also reads braces, `urn:uuid:` and hex without (or with misplaced)
    dashes: a book is named by the spec's form (8-4-4-4-12 hex digits, any case) alone, as a
    user is, so one book has no other URLs for caches and proxy rules to miss."""
    book_id = create_book(testapp, alice)["id"]
    testapp.get(f"{BOOKS}/{book_id.upper()}", headers=alice, status=200)
    bare = book_id.replace("-", "")
    others = (f"{{{book_id}}}", f"urn:uuid:{book_id}", bare, f"{bare[:4]}-{bare[4:]}", f"%7B{book_id}%7D")
    for other in others:
        path = f"{BOOKS}/{other}"
        assert testapp.get(path, headers=alice, status=404).json == not_found(unquote(other))
        testapp.patch_json(path, {"price": "1"}, headers=alice, status=404)
        testapp.delete(path, headers=alice, status=404)
    testapp.get(f"{BOOKS}/{book_id}", headers=alice, status=200)


def test_an_administrator_reads_and_deletes_any_book_but_never_edits_another_s(testapp, alice, admin_headers):
    book = create_book(testapp, alice)
    path = f"{BOOKS}/{book['id']}"
    assert testapp.get(path, headers=admin_headers, status=200).json == book
    response = testapp.patch_json(path, {"price": "1"}, headers=admin_headers, status=404)
    assert response.json == not_found(book["id"])
    assert testapp.get(path, headers=alice).json["price"] == "12.50"
    testapp.delete(path, headers=admin_headers, status=204)
    testapp.get(path, headers=alice, status=404)
    mine = create_book(testapp, admin_headers, "Admin's own")
    testapp.patch_json(f"{BOOKS}/{mine['id']}", {"price": "2"}, headers=admin_headers, status=200)


def test_administrators_list_any_user_s_books(testapp, alice, bob, admin_headers):
    create_book(testapp, alice, "A1")
    create_book(testapp, bob, "B1")
    create_book(testapp, alice, "A2")
    alice_id = testapp.get("/api/v1/auth/user", headers=alice).json["public_id"]
    path = f"/api/v1/users/{alice_id}/books"
    page = testapp.get(f"{path}?per_page=5", headers=admin_headers, status=200).json
    assert [item["name"] for item in page["items"]] == ["A1", "A2"] and page["total_items"] == 2
    assert page["links"]["self"] == f"http://localhost:80{path}?page=1&per_page=5"
    testapp.get(path, headers=bob, status=403)
    testapp.get(path, headers=alice, status=403)  # not even one's own, there: that is GET /books
    for unknown in (uuid.uuid4(), "nope"):
        response = testapp.get(f"/api/v1/users/{unknown}/books", headers=admin_headers, status=404)
        assert response.json["message"] == f"User {unknown} not found."
    testapp.get(f"{path}?per_page=7", headers=admin_headers, status=400)


def test_pages_of_books(testapp, admin_headers, alice, config):
    with database.connection_context():
        owner = database.execute_sql("SELECT id FROM users WHERE email = 'alice@example.com'").fetchone()[0]
        for number in range(12):
            Book.create(owner=owner, name=f"b{number:02d}", author="a", publisher="p", price_cents=number)
    last = testapp.get(f"{BOOKS}?per_page=5&page=3", headers=alice).json
    assert [item["name"] for item in last["items"]] == ["b10", "b11"]
    assert (last["has_prev"], last["has_next"], last["total_pages"]) == (True, False, 3)
    assert last["total_items"] == 12
    middle = testapp.get(f"{BOOKS}?per_page=5&page=2", headers=alice).json
    assert [item["price"] for item in middle["items"]] == ["0.05", "0.06", "0.07", "0.08", "0.09"]
    assert testapp.get(f"{BOOKS}?per_page=5&page=4", headers=alice).json["items"] == []


# --- PATCH -----------------------------------------------------------------------------------

def test_patch_changes_the_fields_sent_and_the_etag(testapp, alice):
    book = create_book(testapp, alice)
    path = f"{BOOKS}/{book['id']}"
    before = testapp.get(path, headers=alice).headers["ETag"]
    response = testapp.patch_json(path, {"price": 9.99, "author": " F. Herbert "}, headers=alice, status=200)
    changed = response.json
    assert (changed["price"], changed["author"], changed["name"]) == ("9.99", "F. Herbert", "Dune")
    assert response.json["updated_at"] >= book["updated_at"]
    assert response.headers["ETag"] != before
    assert testapp.get(path, headers=alice).headers["ETag"] == response.headers["ETag"]
    empty = testapp.patch_json(path, {}, headers=alice, status=400)
    assert errors(empty) == {"body": "must have at least one field"}
    assert errors(testapp.patch_json(path, {"owner": "bob"}, headers=alice, status=400)) == {
        "owner": "is not a known field"}
    testapp.patch(path, {"price": "3"}, headers=alice, status=200)  # a form body


# --- conditional requests --------------------------------------------------------------------

def test_conditional_requests_on_a_book(testapp, alice):
    book = create_book(testapp, alice)
    path = f"{BOOKS}/{book['id']}"
    etag = testapp.get(path, headers=alice).headers["ETag"]
    not_modified = testapp.get(path, headers={**alice, "If-None-Match": etag}, status=304)
    assert not_modified.headers["ETag"] == etag and not_modified.body == b""
    testapp.patch_json(path, {"price": "1"}, headers={**alice, "If-Match": etag}, status=200)
    # `"*"` and `W/"*"` are entity tags (a weak one never matches If-Match), not the wildcard `*`
    for stale in (etag, '"nope"', f"W/{etag}", '"*"', 'W/"*"'):
        response = testapp.patch_json(path, {"price": "2"}, headers={**alice, "If-Match": stale}, status=412)
        assert response.json == {"status": "fail", "message": "the book has changed since you read it"}
        testapp.delete(path, headers={**alice, "If-Match": stale}, status=412)
    assert testapp.get(path, headers=alice).json["price"] == "1.00"
    current = testapp.get(path, headers=alice).headers["ETag"]
    testapp.get(path, headers={**alice, "If-None-Match": etag}, status=200)
    testapp.get(path, headers={**alice, "If-None-Match": '"*"'}, status=200)
    # a blank If-Match is an empty list, which names no ETag (RFC 9110, 13.1.1): not a write
    # without a precondition (`If-Match: $ETAG` with the variable unset)
    for blank in ("", " ", ",", " , ,"):
        testapp.patch_json(path, {"price": "3"}, headers={**alice, "If-Match": blank}, status=412)
        testapp.delete(path, headers={**alice, "If-Match": blank}, status=412)
    assert testapp.get(path, headers=alice).headers["ETag"] == current
    testapp.delete(path, headers={**alice, "If-Match": current}, status=204)


# --- validation ------------------------------------------------------------------------------

PRICE_ERROR = "must be an amount from 0 to 999999.99 with at most two decimal places"


@pytest.mark.parametrize(("raw", "shown"), [
    ('"0"', "0.00"), ("0", "0.00"), ("999999.99", "999999.99"), ('"999999.99"', "999999.99"),
    ('"12.5"', "12.50"), ("12.5", "12.50"), ("0.01", "0.01"), ("12.50", "12.50"), ("12.500", "12.50"),
    ("-0", "0.00"), ("100", "100.00"),
])
def test_prices_that_are_taken_exactly(testapp, alice, raw, shown):
    body = json.dumps(book_body()).replace('"12.50"', raw)
    response = testapp.post(BOOKS, body, content_type="application/json", headers=alice, status=201)
    assert response.json["price"] == shown
    with database.connection_context():
        stored = Book.get(Book.public_id == uuid.UUID(response.json["id"]))
    assert stored.price_cents == round(float(shown) * 100)


@pytest.mark.parametrize("raw", [
    "0.005", "1000000", "-1", "-0.01", "1e2", "1E2", "1.5e1", "true", "false", "null", '"NaN"', '"Infinity"',
    '"-1"', '"12."', '".5"', '" 12"', '"12.345"', '"1e2"', '"0x10"', '""',
    '"1000000"', "9" * 30, "9" * 5000, "1" + "0" * 400 + ".5", "999999.991", "[]", "{}",
])
def test_prices_that_are_refused(testapp, alice, raw):
    body = json.dumps(book_body()).replace('"12.50"', raw)
    response = testapp.post(BOOKS, body, content_type="application/json", headers=alice, status=400)
    assert errors(response) == {"price": PRICE_ERROR}


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity"])
def test_non_json_numbers_are_not_json(testapp, alice, raw):
    body = json.dumps(book_body()).replace('"12.50"', raw)
    response = testapp.post(BOOKS, body, content_type="application/json", headers=alice, status=400)
    assert response.json == {"status": "fail", "message": "The body is not valid JSON"}


def test_text_fields_are_checked_all_at_once(testapp, alice, bob):
    response = testapp.post_json(BOOKS, {"name": "   ", "author": "a\x00b", "publisher": "x" * 201,
                                         "price": "1", "isbn": "123"}, headers=alice, status=400)
    text_error = "must be 1 to 200 characters (surrounding white space aside), without control characters"
    assert errors(response) == {"name": text_error, "author": text_error, "publisher": text_error,
                                "isbn": "is not a known field"}
    assert errors(testapp.post_json(BOOKS, {"name": "x"}, headers=alice, status=400)) == {
        "author": "is required", "publisher": "is required", "price": "is required"}
    assert errors(testapp.post_json(BOOKS, book_body(name="a\u0085b"), headers=alice, status=400)) == {
        "name": text_error}
    # nothing to see: format characters alone (zero-width space, bidi marks, soft hyphen...)
    for blank in ("\u200b", "\u200b\u200d\u2060", " \u202e\u2066\u2069 ", "\u00ad", "\u200e\u200f"):
        assert errors(testapp.post_json(BOOKS, book_body(name=blank), headers=alice, status=400)) == {
            "name": text_error}
    assert create_book(testapp, bob, "\u202bשלום\u202c")["name"] == "\u202bשלום\u202c"  # amid text, kept
    # the white space trimmed is the spec's (the pattern's \s), no more and no less: control
    # characters that Python's str.strip() also takes for white space are refused, not dropped
    for control in ("\x1fDune", "Dune\x1c", "\x85Dune"):
        assert errors(testapp.post_json(BOOKS, book_body(name=control), headers=alice, status=400)) == {
            "name": text_error}
    assert create_book(testapp, bob, "\ufeff\u2009Dune\u3000")["name"] == "Dune"
    padded = create_book(testapp, alice, " " + "x" * 200 + " ")  # 200 once trimmed
    assert padded["name"] == "x" * 200
    assert create_book(testapp, alice, "Ünïcödé — 書")["name"] == "Ünïcödé — 書"


# --- the per-account limit -------------------------------------------------------------------

def test_an_account_keeps_at_most_max_books_per_user(testapp, alice, bob):
    ids = [create_book(testapp, alice, f"book {number}")["id"] for number in range(LIMIT)]
    response = testapp.post_json(BOOKS, book_body(), headers=alice, status=409)
    assert response.json == {"status": "fail",
                             "message": f"You already have {LIMIT} books, the most one account may keep."}
    create_book(testapp, bob)  # the limit is per account
    testapp.delete(f"{BOOKS}/{ids[0]}", headers=alice, status=204)
    create_book(testapp, alice)
    testapp.post_json(BOOKS, book_body(), headers=alice, status=409)


# --- deleting an account ---------------------------------------------------------------------

def test_deleting_an_account_deletes_its_books(testapp, alice, bob, admin_headers):
    mine = [create_book(testapp, alice, f"A{number}")["id"] for number in range(2)]
    theirs = create_book(testapp, bob, "B")["id"]
    testapp.delete("/api/v1/auth/user", params=json.dumps({"current_password": PASSWORD}),
                   content_type="application/json", headers=alice, status=204)
    for book_id in mine:
        testapp.get(f"{BOOKS}/{book_id}", headers=admin_headers, status=404)
    bob_id = testapp.get("/api/v1/auth/user", headers=bob).json["public_id"]
    testapp.delete(f"/api/v1/users/{bob_id}", headers=admin_headers, status=204)
    testapp.get(f"{BOOKS}/{theirs}", headers=admin_headers, status=404)
    with database.connection_context():
        assert Book.select().count() == 0
    # the users' counter stays right
    assert testapp.get("/api/v1/users", headers=admin_headers).json["total_items"] == 1


def test_the_database_itself_deletes_an_account_s_books(testapp, alice):
    create_book(testapp, alice)
    with database.connection_context():
        database.execute_sql("DELETE FROM sessions")
        database.execute_sql("DELETE FROM users WHERE email = 'alice@example.com'")
        assert Book.select().count() == 0


# --- through waitress ------------------------------------------------------------------------

def test_a_blank_if_match_and_another_form_of_id_through_waitress(app, testapp, alice):
    """What the server hands the app decides these: waitress keeps a blank header (a 412, not
    an unconditional write) and decodes %-escapes before the id is read."""
    book_id = create_book(testapp, alice)["id"]
    with threaded_server(app, threads=2) as url:
        for blank in ("", " , "):
            conditional = {**alice, "If-Match": blank}
            assert request(url, "PATCH", f"{BOOKS}/{book_id}", {"price": "1"}, conditional).status == 412
            assert request(url, "DELETE", f"{BOOKS}/{book_id}", headers=conditional).status == 412
        for other in (f"%7B{book_id}%7D", f"urn:uuid:{book_id}", book_id.replace("-", "")):
            assert request(url, "GET", f"{BOOKS}/{other}", headers=alice).status == 404
        assert request(url, "GET", f"{BOOKS}/{book_id.upper()}", headers=alice).body["price"] == "12.50"
