"""/books: each user's own books. Every route finds the book through its owner (Book.owned_by):
another user's book is the same 404 as a missing one. Administrators also read and delete any
book and list any user's (/users/{public_id}/books), never edit another's."""
from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import falcon
import falcon.routing
import peewee

from widgetapi.auth import is_admin, require_admin
from widgetapi.body import read_body
from widgetapi.books import BOOKS, Book, TooManyBooks
from widgetapi.conditional import Changed, entity_tag, not_modified, version_to_write
from widgetapi.errors import Unauthorized
from widgetapi.pagination import paginate, requested_page
from widgetapi.representation import absolute_url, represent_owner
from widgetapi.resources.users import PUBLIC_ID, find_user
from widgetapi.timeutil import format_datetime
from widgetapi.validation import Validator

NEW_BOOK = "/components/schemas/NewBook"
BOOK_UPDATE = "/components/schemas/BookUpdate"
TEXT_FIELDS = ("name", "author", "publisher")
# The white space trimmed from them: what the spec's pattern calls white space (ECMA-262 `\s`).
# str.strip() alone would also drop control characters (U+001C to U+001F, U+0085) that the
# pattern refuses, and keep U+FEFF that it takes for white space.
WHITE_SPACE = "\t\n\v\f\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
              "\u2028\u2029\u202f\u205f\u3000\ufeff"
NOUN = "book"  # in 412 messages


class BookId(falcon.routing.UUIDConverter):
    """`{book_id:uuid}`: Falcon's converter, except that a malformed id still reaches the
    resource, as its text (a str, never a UUID), to get the same 404 as an unknown id rather
    than the router's bare one. Only the spec's form is an id (as for users): uuid.UUID also
    reads braces, `urn:uuid:` and hex without dashes, which would give a book other URLs."""

    def convert(self, value: str) -> uuid.UUID | str:  # type: ignore[override]
        return (PUBLIC_ID.fullmatch(value) and super().convert(value)) or value


class BookNotFound(falcon.HTTPNotFound):
    def __init__(self, book_id: object) -> None:
        super().__init__(description=f"Book {book_id} not found.")


def find_book(*, administrators: bool) -> Any:
    """falcon.before hook factory: the caller's book by the path's id, or with
    `administrators` an administrator's pick of anyone's, as `book`; else 404, before any
    other check."""

    def hook(req: falcon.Request, resp: falcon.Response, resource: object, params: dict) -> None:
        book_id = params.pop("book_id")
        book = None
        if isinstance(book_id, uuid.UUID):
            book = Book.find(book_id, req.context.user, any_owner=administrators and is_admin(req))
        if book is None:
            raise BookNotFound(book_id)
        params["book"] = book

    return hook


class Books:
    def __init__(self, validator: Validator, max_books: int) -> None:
        self._validator = validator
        self._max_books = max_books

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        page, per_page = requested_page(req, self._validator)
        owned = BOOKS.of(owner=req.context.user.id)
        resp.media = paginate(req, resp, owned, page, per_page, lambda book: represent(req, book))

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        fields = self._fields(req, NEW_BOOK)
        try:
            book = Book.add(req.context.user, self._max_books, fields)
        except TooManyBooks as error:
            raise falcon.HTTPConflict(description=str(error)) from None
        except peewee.IntegrityError:  # the account was deleted meanwhile
            raise Unauthorized("Invalid token. Please log in again.", invalid_token=True) from None
        resp.status = falcon.HTTP_CREATED
        resp.location = book_url(req, book)
        self._send(req, resp, book)

    @falcon.before(find_book(administrators=True))
    def on_get_item(self, req: falcon.Request, resp: falcon.Response, book: Book) -> None:
        if not not_modified(req, resp, entity_tag(book)):
            resp.media = represent(req, book)

    @falcon.before(find_book(administrators=False))
    def on_patch_item(self, req: falcon.Request, resp: falcon.Response, book: Book) -> None:
        fields = self._fields(req, BOOK_UPDATE)
        version = version_to_write(req, book, NOUN)
        changed = Book.change(book, fields, version)
        if changed is None:  # changed or deleted since it was read
            raise Changed(NOUN) if version is not None else BookNotFound(book.public_id)
        self._send(req, resp, changed)

    @falcon.before(find_book(administrators=True))
    def on_delete_item(self, req: falcon.Request, resp: falcon.Response, book: Book) -> None:
        version = version_to_write(req, book, NOUN)
        if not Book.remove(book, version):
            raise Changed(NOUN) if version is not None else BookNotFound(book.public_id)
        resp.status = falcon.HTTP_NO_CONTENT

    def _fields(self, req: falcon.Request, schema: str) -> dict[str, Any]:
        """The body's fields, trimmed and validated, as the model stores them."""
        body = {name: value.strip(WHITE_SPACE) if name in TEXT_FIELDS and isinstance(value, str) else value
                for name, value in read_body(req).items()}
        self._validator.validate(schema, body)
        if "price" in body:
            body["price_cents"] = int(Decimal(body.pop("price")) * 100)
        return body

    @staticmethod
    def _send(req: falcon.Request, resp: falcon.Response, book: Book) -> None:
        resp.etag = entity_tag(book)
        resp.media = represent(req, book)


class UserBooks:
    """/users/{public_id}/books: administrators list any user's books."""

    def __init__(self, validator: Validator) -> None:
        self._validator = validator

    @falcon.before(require_admin)
    def on_get(self, req: falcon.Request, resp: falcon.Response, public_id: str) -> None:
        owner = find_user(public_id)
        page, per_page = requested_page(req, self._validator)
        resp.media = paginate(req, resp, BOOKS.of(owner=owner.id), page, per_page,
                              lambda book: represent(req, book))


def book_url(req: falcon.Request, book: Book) -> str:
    return absolute_url(req, f"/api/v1/books/{book.public_id}")


def represent(req: falcon.Request, book: Book) -> dict[str, Any]:
    return {
        "id": str(book.public_id),
        "name": book.name,
        "author": book.author,
        "publisher": book.publisher,
        "price": book.price_text,
        "created_at": format_datetime(book.created_at),
        "updated_at": format_datetime(book.updated_at),
        "owner": represent_owner(book.owner),
        "link": book_url(req, book),
    }
