"""Books: each user's own records. Ownership lives in the queries (`Book.owned_by`), so a
responder cannot forget it; the per-account limit is checked and the book written under a
lock on the owner's row."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import peewee

from widgetapi import models
from widgetapi.db import database
from widgetapi.models import BaseModel, User
from widgetapi.statements import Listing, Param, Statement, placeholder
from widgetapi.timeutil import utcnow


class TooManyBooks(Exception):
    def __init__(self, count: int) -> None:
        super().__init__(f"You already have {count} books, the most one account may keep.")


class Book(BaseModel):
    public_id = peewee.UUIDField(unique=True, default=uuid.uuid4)  # the id clients see
    name = peewee.CharField(max_length=200)
    author = peewee.CharField(max_length=200)
    publisher = peewee.CharField(max_length=200)
    price_cents = peewee.IntegerField()  # exact: 12.50 is 1250
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)
    version = peewee.IntegerField(default=1)  # conditional.py
    # An account's books go with it.
    owner = peewee.ForeignKeyField(User, backref="books", on_delete="CASCADE")

    class Meta:
        table_name = "books"
        # One owner's books in creation order: their pages and their count read this index alone.
        indexes = ((("owner", "id"), False),)

    @classmethod
    def with_owner(cls) -> peewee.ModelSelect[Book]:
        """Books joined with what is shown of their owners, in creation order."""
        return models.with_owner_shown(cls, peewee.JOIN.INNER)

    @classmethod
    def owned_by(cls, owner: Any) -> peewee.ModelSelect[Book]:
        """The books of `owner` (a user's id, or a Param): the only way the API reads a book
        for its owner, so another's book is never found."""
        return cls.with_owner().where(cls.owner == owner)

    @classmethod
    def find(cls, public_id: uuid.UUID, reader: User, any_owner: bool = False) -> Book | None:
        """The book `reader` owns by that id; with `any_owner` (an administrator), anyone's."""
        if any_owner:
            return BOOK.first(public_id=public_id)
        return OWN_BOOK.first(public_id=public_id, owner=reader.id)

    @classmethod
    def count_of(cls, owner: int) -> int:
        return int(BOOK_COUNT.scalar(owner=owner) or 0)

    @classmethod
    def add(cls, owner: User, limit: int, fields: dict[str, Any]) -> Book:
        """A new book of `owner`, unless they have `limit` books already (TooManyBooks). Two
        creates at the limit cannot both pass: each counts and writes under a lock on the
        owner's row (PostgreSQL) or the write lock (SQLite). peewee.IntegrityError when the
        owner's account is gone."""
        with _owner_locked(owner.id):
            count = cls.count_of(owner.id)
            if count >= limit:
                raise TooManyBooks(count)
            return cast(Book, cls.create(owner=owner, **fields))

    @classmethod
    def change(cls, book: Book, fields: dict[str, Any], version: int | None) -> Book | None:
        """Update the book (a new version), only from `version` when given; the book as
        stored now, or None when it is gone (or in another version)."""
        with database.atomic():
            query = cls.update(**fields, updated_at=utcnow(), version=cls.version + 1)
            if not query.where(cls.id == book.id, *cls._in_version(version)).execute():
                return None
            return BOOK.first(public_id=book.public_id)

    @classmethod
    def remove(cls, book: Book, version: int | None) -> bool:
        """False when the book is gone (or in another version)."""
        return cls.delete().where(cls.id == book.id, *cls._in_version(version)).execute() > 0

    @classmethod
    def _in_version(cls, version: int | None) -> list[peewee.Expression]:
        return [] if version is None else [cls.version == version]

    @property
    def price_text(self) -> str:
        """The price with two decimals, as the API shows it."""
        return f"{self.price_cents // 100}.{self.price_cents % 100:02d}"


@contextmanager
def _owner_locked(owner: int) -> Iterator[None]:
    db = database.obj
    if isinstance(db, peewee.PostgresqlDatabase):
        with db.atomic():
            User.select(User.id).where(User.id == owner).for_update().execute()
            yield
    else:
        with db.atomic("IMMEDIATE"):
            yield


# The hot reads, compiled once (statements.py): a book, and a page of one owner's books with
# their count (at most MAX_BOOKS_PER_USER rows of one index: no counter needed).
OWN_BOOK = Statement(lambda: Book.owned_by(Param("owner")).where(Book.public_id == Param("public_id")))
BOOK = Statement(lambda: Book.with_owner().where(Book.public_id == Param("public_id")))
BOOK_COUNT = Statement(lambda: Book.select(peewee.fn.COUNT(Book.id).alias("count"))
                       .where(Book.owner == Param("owner")))
BOOKS = Listing(Book, Book.with_owner, Book.count_of, scope=lambda: Book.owner == placeholder("owner"))

models.register(Book)
