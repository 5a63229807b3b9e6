"""Endpoints about the service itself: health and the spec. No token needed."""
from __future__ import annotations

import falcon
import peewee

from widgetapi.spec import spec_json, spec_text


class Health:
    auth_required = False

    def __init__(self, db: peewee.Database) -> None:
        self._db = db

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._db.execute_sql("SELECT 1")  # a database that does not answer: the app's 503
        resp.media = {"status": "ok"}


class Spec:
    auth_required = False

    def on_get_yaml(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = "application/yaml"
        resp.text = spec_text()

    def on_get_json(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = spec_json()
