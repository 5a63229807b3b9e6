"""/widgets: any user reads, administrators write."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import falcon
import peewee

from widgetapi.auth import require_admin
from widgetapi.body import read_body
from widgetapi.conditional import Changed, conditional, entity_tag, not_modified, version_to_write
from widgetapi.errors import ValidationFailed
from widgetapi.pagination import paginate, requested_page
from widgetapi.representation import absolute_url, represent_owner
from widgetapi.timeutil import format_datetime, format_duration, parse_date_or_datetime, utcnow
from widgetapi.validation import Validator
from widgetapi.widgets import WIDGETS, Widget

NEW_WIDGET = "/components/schemas/NewWidget"
WIDGET_UPDATE = "/components/schemas/WidgetUpdate"
NAME_IN_PATH = "/components/parameters/WidgetNameInPath/schema"
NOUN = "widget"  # in 412 messages


class WidgetNameTaken(falcon.HTTPConflict):
    def __init__(self, name: str) -> None:
        super().__init__(description=f"Widget name: {name} already exists, must be unique.")


class WidgetNotFound(falcon.HTTPNotFound):
    def __init__(self, name: str) -> None:
        super().__init__(description=f"{name} not found in database.")


def name_as_sent(req: falcon.Request, resp: falcon.Response, resource: object, params: dict) -> None:
    """falcon.before hook for /widgets/{name}: the name must be a widget name as sent, before
    it is lower-cased for the lookup (the Kelvin sign K lower-cases to k, a NUL reaches the
    database): else 404, or 400 for PUT, which would create it."""
    assert isinstance(resource, Widgets)
    name = params["name"]
    errors = resource.validator.parameter_errors(NAME_IN_PATH, name, "name")
    if errors:
        if req.method == "PUT":
            raise ValidationFailed(errors)
        raise WidgetNotFound(name)
    params["name"] = name.lower()


class Widgets:
    def __init__(self, validator: Validator) -> None:
        self._validator = validator

    @property
    def validator(self) -> Validator:
        return self._validator

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        page, per_page = requested_page(req, self._validator)
        now = utcnow()
        resp.media = paginate(req, resp, WIDGETS, page, per_page,
                              lambda widget: represent(req, widget, now))

    @falcon.before(require_admin)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_body(req)
        self._validator.validate(NEW_WIDGET, body)
        self._create(req, resp, body["name"], body)

    @falcon.before(name_as_sent)
    def on_get_item(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        widget = Widget.by_name(name)
        if widget is None:
            raise WidgetNotFound(name)
        if not not_modified(req, resp, entity_tag(widget)):
            resp.media = represent(req, widget, utcnow())

    @falcon.before(require_admin)
    @falcon.before(name_as_sent)
    def on_put_item(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        body = read_body(req)
        self._validator.validate(WIDGET_UPDATE, body)
        current = Widget.by_name(name) if conditional(req) else None
        version = version_to_write(req, current, NOUN)
        if current is not None or not conditional(req):
            updated = self._update(name, body, version)
            if updated is not None:
                return self._updated(resp, updated)
            if version is not None:  # changed or deleted since it was read
                raise Changed(NOUN)
        # No such widget: PUT creates it, with the name from the path.
        self._validator.validate(NEW_WIDGET, {**body, "name": name})
        try:
            self._create(req, resp, name, body)
        except WidgetNameTaken:  # created by a concurrent request since
            updated = None if conditional(req) else self._update(name, body, None)
            if updated is None:
                raise Changed(NOUN) from None
            self._updated(resp, updated)

    @falcon.before(require_admin)
    @falcon.before(name_as_sent)
    def on_delete_item(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        version = None
        if conditional(req):
            current = Widget.by_name(name)
            if current is None:
                raise WidgetNotFound(name)
            version = version_to_write(req, current, NOUN)
        if not Widget.delete_by_name(name, version):
            if version is not None:
                raise Changed(NOUN)
            raise WidgetNotFound(name)
        resp.status = falcon.HTTP_NO_CONTENT

    def _create(self, req: falcon.Request, resp: falcon.Response, name: str, body: dict) -> None:
        try:
            widget = Widget.create(name=name, info_url=body["info_url"],
                                   deadline=parse_date_or_datetime(body["deadline"]),
                                   owner=req.context.user)
        except peewee.IntegrityError:
            raise WidgetNameTaken(name) from None
        resp.status = falcon.HTTP_CREATED
        resp.location = widget_url(req, name)
        resp.etag = entity_tag(widget)
        resp.media = {"status": "success", "message": f"New widget added: {name}."}

    @staticmethod
    def _update(name: str, body: dict, version: int | None) -> Widget | None:
        deadline = parse_date_or_datetime(body["deadline"])
        return Widget.update_by_name(name, body["info_url"], deadline, version)

    @staticmethod
    def _updated(resp: falcon.Response, widget: Widget) -> None:
        resp.etag = entity_tag(widget)
        resp.media = {"status": "success", "message": f"'{widget.name}' was successfully updated"}


def widget_url(req: falcon.Request, name: str) -> str:
    return absolute_url(req, f"/api/v1/widgets/{name}")


def represent(req: falcon.Request, widget: Widget, now: datetime) -> dict[str, Any]:
    return {
        "name": widget.name,
        "info_url": widget.info_url,
        "created_at": format_datetime(widget.created_at),
        "deadline": format_datetime(widget.deadline),
        "deadline_passed": widget.deadline_passed(now),
        "time_remaining": format_duration(widget.time_remaining(now)),
        "owner": represent_owner(widget.owner),
        "link": widget_url(req, widget.name),
    }
