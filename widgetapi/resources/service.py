"""Endpoints about the service itself: the index, health and the spec. No token needed."""
from __future__ import annotations

import logging

import falcon
import peewee

from widgetapi import __version__
from widgetapi.db import UNAVAILABLE
from widgetapi.models import check_tables
from widgetapi.spec import spec_json, spec_text

log = logging.getLogger(__name__)


class Index:
    """`GET /api/v1`: what this is, and where to go next."""

    auth_required = False

    def __init__(self, api: str) -> None:
        self._api = api

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        base = f"{req.context.client.url_prefix}{self._api}"  # absolute, as the widgets' links are
        # The links name the host the request named: no shared cache may hand them to another.
        resp.cache_control = ["no-cache"]
        resp.vary = ["Host", "X-Forwarded-Host", "X-Forwarded-Proto"]
        resp.media = {
            "name": "widgetapi",
            "version": __version__,
            "links": {"openapi": f"{base}/openapi.json", "ui": f"{base}/ui", "health": f"{base}/health"},
        }


class Health:
    """200 while the database answers and its tables can be used; else 503, and the log
    says why (for a load balancer's health check)."""

    auth_required = False

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            check_tables()
        except (peewee.DatabaseError, *UNAVAILABLE) as error:
            reason = " ".join(str(error).split()) or type(error).__name__
            log.error("health check failed: the database is unreachable, or its tables are missing "
                      "(run `widgetapi init-db`) or read-only: %s", reason)
            raise falcon.HTTPServiceUnavailable(description="Service unavailable") from None
        resp.media = {"status": "ok"}


class Spec:
    auth_required = False

    def on_get_yaml(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = "application/yaml"
        resp.text = spec_text()

    def on_get_json(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = spec_json()
