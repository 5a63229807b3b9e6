"""Hot queries compiled once: the reads that every authenticated request makes, and pages
of a table read by id from the nearer end (Listing).

Why: building a query's SQL text with Peewee costs far more than running it (a cProfile of
one widget read put 56 % of the time in Peewee's `sql()`), and these few queries run on
every request. So each is still written with Peewee, beside the model it reads (models.py,
widgets.py, books.py), with `Param` placeholders for its values; `Statement` turns it into
SQL text once per database, then runs that text with the request's values and makes model
objects from the rows without Peewee's per-query machinery. Nothing is cached but the SQL text: every
execution reads the database, so a logout or an update is seen by the very next request.
Writes, the CLI and everything off the hot path use Peewee's query builder as usual.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, NamedTuple, Protocol, TypeVar, cast

import peewee

from widgetapi.db import database

M = TypeVar("M", bound=peewee.Model)


class _Slot(NamedTuple):
    """Where a Param's value goes among the statement's parameters, and how it is adapted."""

    name: str
    adapt: Callable[[Any], Any] | None


class Param(peewee.Node):
    """A named placeholder in a Peewee query, e.g. `User.public_id == Param("public_id")`:
    its value is given when the compiled statement runs, adapted by the field it is
    compared with (a UUID becomes the text SQLite stores)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def __sql__(self, ctx: peewee.Context) -> peewee.Context:
        return ctx.value(_Slot(self.name, ctx.state.converter), converter=False)


def placeholder(name: str) -> Any:
    """A Param where a query-building method expects a value (a UUID, a string...)."""
    return Param(name)


def _converter(field: peewee.Field) -> Callable[[Any], Any] | None:
    """The field's conversion of a database value, or None when there is nothing to do."""
    if isinstance(field, (peewee.CharField, peewee.TextField)):
        return None  # both drivers return str
    if not isinstance(field, peewee.DateTimeField):
        return field.python_value

    def convert(value: Any) -> Any:
        # SQLite returns datetimes as ISO text: `fromisoformat` reads it ten times faster
        # than Peewee's strptime formats, which stay the fallback.
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                pass
        return field.python_value(value)
    return convert


class _Compiled:
    """A query's SQL text and parameters for one database, and how its rows become objects."""

    def __init__(self, query: peewee.ModelSelect[Any]) -> None:
        self.sql, params = query.sql()
        self.params = [(p, True) if isinstance(p, _Slot) else (p, False) for p in params]
        model = query.model
        # Each column's conversion from the database's value, and where it goes: a field of
        # the main model or of a joined one, or an attribute of the main model's object for
        # a column such as EXISTS(...) AS x, as in Peewee.
        self.converters: list[Callable[[Any], Any] | None] = []
        placed: dict[type[peewee.Model], list[tuple[str, int]]] = {}
        self.extras: list[tuple[str, int]] = []
        for index, node in enumerate(query.selected_columns):
            if isinstance(node, peewee.Field):
                self.converters.append(_converter(node))
                placed.setdefault(node.model, []).append((node.name, index))
            else:
                self.converters.append(None)
                self.extras.append((node._alias, index))
        self.models = list(placed.items())
        if self.models and self.models[0][0] is not model:
            raise ValueError(f"{model.__name__}'s fields must come first in the select")
        # A joined model hangs on the main one by the foreign key that points at it.
        self.links = [(next(f.name for f in model._meta.refs if f.rel_model is joined),
                       joined._meta.primary_key.name, joined, fields)  # type: ignore[union-attr]
                      for joined, fields in self.models[1:]]

    def values(self, arguments: Mapping[str, Any]) -> list[Any]:
        out = []
        for param, is_slot in self.params:
            if is_slot:
                value = arguments[param.name]
                out.append(param.adapt(value) if param.adapt else value)
            else:
                out.append(param)
        return out

    def objects(self, row: Sequence[Any]) -> peewee.Model:
        values = [value if value is None or convert is None else convert(value)
                  for convert, value in zip(self.converters, row, strict=True)]
        main_model, fields = self.models[0]
        main = _instance(main_model, {name: values[index] for name, index in fields})
        for name, index in self.extras:
            setattr(main, name, values[index])
        for foreign_key, key, joined, fields in self.links:
            data = {name: values[index] for name, index in fields}
            if data.get(key) is not None:  # else there is no such row (LEFT OUTER JOIN)
                main.__rel__[foreign_key] = _instance(joined, data)
        return main


def _instance(model: type[M], data: dict[str, Any]) -> M:
    """A model object as Peewee makes one from a row: clean, no defaults applied."""
    obj = model.__new__(model)
    obj.__data__, obj.__rel__ = data, {}
    obj._dirty = set()  # type: ignore[attr-defined]
    return obj


class Statement(Generic[M]):
    """A Peewee SELECT, compiled once per database and then run as SQL text.

    `build` returns the query, with `Param(name)` where values go; its main model comes
    first in the select, joined models after it (each reached by a foreign key of the main
    model, LEFT OUTER joins giving None when there is no row)."""

    def __init__(self, build: Callable[[], peewee.ModelSelect[M]]) -> None:
        self._build = build
        self._compiled: tuple[peewee.Database, _Compiled] | None = None

    def _for(self, db: peewee.Database) -> _Compiled:
        compiled = self._compiled
        if compiled is None or compiled[0] is not db:
            # Threads that come here at once each compile the same text: harmless.
            compiled = (db, _Compiled(self._build()))
            self._compiled = compiled
        return compiled[1]

    @property
    def sql(self) -> str:
        """The SQL text for the database the models are bound to."""
        return self._for(database.obj).sql

    def all(self, **arguments: Any) -> list[M]:
        compiled = self._for(database.obj)
        cursor = database.execute_sql(compiled.sql, compiled.values(arguments))
        return [compiled.objects(row) for row in cursor.fetchall()]  # type: ignore[misc]

    def first(self, **arguments: Any) -> M | None:
        rows = self.all(**arguments)
        return rows[0] if rows else None

    def scalar(self, **arguments: Any) -> Any:
        """The first column of the first row (None without a row), e.g. of a COUNT."""
        compiled = self._for(database.obj)
        row = database.execute_sql(compiled.sql, compiled.values(arguments)).fetchone()
        return None if row is None else row[0]


class Pages(Protocol):
    """Rows that can be paged: how many there are, and one page of them."""

    def total(self) -> int: ...

    def page(self, number: int, size: int, total: int) -> list[Any]: ...


class Listing(Generic[M]):
    """A table's rows in creation order, a page at a time, and how many there are (`total`);
    with a `scope`, only the rows it selects (e.g. one owner's), whose values are given by
    `of(**arguments)`.

    The page's ids are picked from the id index alone (an index that starts with the
    scope's columns, for a scope), then only those rows are read (and joined): pages in the
    second half are picked from the end, in reverse, so no page skips more than half the
    ids, and the first and last pages skip none."""

    def __init__(self, model: type[M], rows: Callable[[], peewee.ModelSelect[M]],
                 total: Callable[..., int], scope: Callable[[], peewee.Expression] | None = None) -> None:
        self.model = model
        self._total = total
        self._rows = rows
        self._scope = scope
        self._statements: dict[tuple[int, bool], Statement[M]] = {}

    def total(self, **arguments: Any) -> int:
        return self._total(**arguments)

    def of(self, **arguments: Any) -> Pages:
        """The scope's rows for these values of its Params, as Pages."""
        return _Scoped(self, arguments)

    def statement(self, size: int, descending: bool) -> Statement[M]:
        """The query for pages of `size` rows. The size is written in the SQL (the spec
        allows a handful), not passed as a value: PostgreSQL then plans it once for every
        page, knowing how few rows it reads."""
        key = (size, descending)
        if key not in self._statements:
            self._statements[key] = Statement(lambda: self._page(size, descending))
        return self._statements[key]

    def _page(self, size: int, descending: bool) -> peewee.ModelSelect[M]:
        key = cast(peewee.Field, self.model._meta.primary_key)
        order = key.desc() if descending else key
        ids = self.model.select(key)
        if self._scope is not None:
            ids = ids.where(self._scope())
        ids = ids.order_by(order).limit(peewee.SQL(str(int(size))))
        return self._rows().where(key.in_(ids.offset(Param("offset")))).order_by(order)

    def page(self, number: int, size: int, total: int, **arguments: Any) -> list[M]:
        """Rows of page `number` (from 1) of `size` rows, when there are `total` rows."""
        start, end = (number - 1) * size, min(number * size, total)
        if start >= end:
            return []
        if start <= total - end:
            return self.statement(size, descending=False).all(offset=start, **arguments)
        # From the end: the page's rows come first, then (on a short last page) some of the
        # page before it.
        rows = self.statement(size, descending=True).all(offset=total - end, **arguments)
        return rows[:end - start][::-1]


class _Scoped:
    def __init__(self, listing: Listing[Any], arguments: dict[str, Any]) -> None:
        self._listing, self._arguments = listing, arguments

    def total(self) -> int:
        return self._listing.total(**self._arguments)

    def page(self, number: int, size: int, total: int) -> list[Any]:
        return self._listing.page(number, size, total, **self._arguments)
