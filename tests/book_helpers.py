"""Helpers shared by the book tests: request bodies and creating books through the API."""
from __future__ import annotations

from typing import Any

import webtest

BOOKS = "/api/v1/books"


def book_body(name: str = "Dune", **fields: Any) -> dict[str, Any]:
    """A valid POST body; keyword arguments replace or add fields."""
    return {"name": name, "author": "Frank Herbert", "publisher": "Chilton", "price": "12.50", **fields}


def create_book(testapp: webtest.TestApp, headers: dict[str, str], name: str = "Dune", **fields: Any) -> dict:
    """Create a book through the API; its representation."""
    return testapp.post_json(BOOKS, book_body(name, **fields), headers=headers, status=201).json
