"""Widgets: everyone reads them, administrators write them. A widget outlives its owner's
account (the owner becomes None)."""
from __future__ import annotations

from datetime import datetime, timedelta

import peewee

from widgetapi import models
from widgetapi.db import database
from widgetapi.models import BaseModel, Counter, User
from widgetapi.statements import Listing, Param, Statement
from widgetapi.timeutil import utcnow


class Widget(BaseModel):
    name = peewee.CharField(max_length=100, unique=True)
    info_url = peewee.CharField(max_length=255)
    created_at = peewee.DateTimeField(default=utcnow)
    deadline = peewee.DateTimeField()
    # null once the owner's account is deleted: the widget stays
    owner = peewee.ForeignKeyField(User, backref="widgets", null=True, on_delete="SET NULL")
    version = peewee.IntegerField(default=1, constraints=[peewee.SQL("DEFAULT 1")])  # conditional.py

    class Meta:
        table_name = "widgets"

    @classmethod
    def with_owner(cls) -> peewee.ModelSelect[Widget]:
        """Widgets joined with what is shown of their owners (None when there is no owner),
        in creation order: one query for any number."""
        return models.with_owner_shown(cls, peewee.JOIN.LEFT_OUTER)

    @classmethod
    def by_name(cls, name: str) -> Widget | None:
        return WIDGET_BY_NAME.first(name=name)

    @classmethod
    def update_by_name(cls, name: str, info_url: str, deadline: datetime,
                       version: int | None = None) -> Widget | None:
        """Update in place, a new version, only from `version` when given; the widget as
        stored now, or None when there is no such widget (in that version)."""
        with database.atomic():
            query = cls.update(info_url=info_url, deadline=deadline, version=cls.version + 1)
            if not query.where(cls.name == name, *cls._in_version(version)).execute():
                return None
            return cls.by_name(name)

    @classmethod
    def delete_by_name(cls, name: str, version: int | None = None) -> bool:
        """False when there is no such widget (in that version)."""
        return cls.delete().where(cls.name == name, *cls._in_version(version)).execute() > 0

    @classmethod
    def _in_version(cls, version: int | None) -> list[peewee.Expression]:
        return [] if version is None else [cls.version == version]

    def time_remaining(self, now: datetime) -> timedelta:
        return max(self.deadline - now, timedelta(0))

    def deadline_passed(self, now: datetime) -> bool:
        return self.deadline < now


# The hot reads, compiled once (statements.py): a widget by its name, and a page of widgets
# with their count (kept by a counter: see counters.py).
WIDGET_BY_NAME = Statement(lambda: Widget.with_owner().where(Widget.name == Param("name")))
WIDGETS = Listing(Widget, Widget.with_owner, lambda: Counter.rows_in(Widget))

models.register(Widget, counted=True)
