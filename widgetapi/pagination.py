"""Pages of a query: the `page`/`per_page` parameters, the page object and its headers."""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import falcon
import peewee

from widgetapi.db import snapshot
from widgetapi.errors import ValidationFailed
from widgetapi.representation import absolute_url
from widgetapi.statements import Pages
from widgetapi.validation import Validator

# A whole number as JSON writes one: int() also takes "1_0", "+1", " 1" and non-ASCII digits.
INTEGER = re.compile(r"-?[0-9]+")
PARAMETERS = {"page": "/components/parameters/Page", "per_page": "/components/parameters/PerPage"}


def requested_page(req: falcon.Request, validator: Validator) -> tuple[int, int]:
    """(page, per_page) from the query string, validated by the spec's parameter schemas."""
    values, errors = {}, {}
    for name, pointer in PARAMETERS.items():
        schema_pointer = f"{pointer}/schema"
        raw = req.get_param(name)
        value: Any = validator.schema(schema_pointer)["default"] if raw is None else _as_int(raw)
        errors.update(validator.parameter_errors(schema_pointer, value, name))
        values[name] = value
    if errors:
        raise ValidationFailed(errors)
    return values["page"], values["per_page"]


def _as_int(raw: str) -> int | str:
    try:
        return int(raw) if INTEGER.fullmatch(raw) else raw
    except ValueError:  # more digits than int() converts
        return raw


class QueryListing:
    """Any Peewee query as a Listing, counted and paged by Peewee: for lists off the hot path."""

    def __init__(self, query: peewee.ModelSelect[Any]) -> None:
        self._query = query

    def total(self) -> int:
        return int(self._query.order_by().count())

    def page(self, number: int, size: int, total: int) -> list[Any]:
        return list(self._query.paginate(number, size))


def paginate(req: falcon.Request, resp: falcon.Response, rows: Pages | peewee.ModelSelect[Any],
             page: int, per_page: int, represent: Callable[[Any], dict]) -> dict[str, Any]:
    """The page object for one page of `rows` (a Listing, one's `of(...)`, or any Peewee
    query); also sets the Link and Total-Count headers."""
    listing = QueryListing(rows) if isinstance(rows, peewee.ModelSelect) else rows
    with snapshot():  # the count and the page as of one moment, so that they agree
        total = listing.total()
        found = listing.page(page, per_page, total)
    total_pages = max(1, math.ceil(total / per_page))
    items = [represent(row) for row in found]
    pages = {"self": page, "first": 1}
    if page > 1:
        pages["prev"] = min(page - 1, total_pages)
    if page < total_pages:
        pages["next"] = page + 1
    pages["last"] = total_pages
    links = {rel: _page_url(req, number, per_page) for rel, number in pages.items()}
    for rel, url in links.items():
        resp.append_link(url, rel)
    resp.set_header("Total-Count", str(total))
    return {
        "links": links,
        "has_prev": page > 1,
        "has_next": page < total_pages,
        "page": page,
        "total_pages": total_pages,
        "items_per_page": per_page,
        "total_items": total,
        "items": items,
    }


def _page_url(req: falcon.Request, page: int, per_page: int) -> str:
    # Two whole numbers: nothing to escape (urlencode would write the same, at ten times the cost).
    return absolute_url(req, f"{req.path}?page={int(page)}&per_page={int(per_page)}")
