"""The one JSON error shape, the errors the API raises, and its last-resort handlers."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import falcon

from widgetapi import media
from widgetapi.accounts import LastAdministrator
from widgetapi.db import UNAVAILABLE
from widgetapi.passwords import PasswordHashingBusy

log = logging.getLogger(__name__)

REALM = 'Bearer realm="widgetapi"'


class ValidationFailed(falcon.HTTPBadRequest):
    """400 naming every failing field."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__(description="Input payload validation failed")
        self.errors = dict(errors)


class Unauthorized(falcon.HTTPUnauthorized):
    """401; `invalid_token` says a token was sent but cannot be used."""

    def __init__(self, message: str = "Unauthorized", invalid_token: bool = False) -> None:
        challenge = REALM
        if invalid_token:
            challenge += f', error="invalid_token", error_description="{message}"'
        super().__init__(description=message, challenges=[challenge])


class NotAdministrator(falcon.HTTPForbidden):
    def __init__(self) -> None:
        message = "You are not an administrator"
        challenge = f'{REALM}, error="insufficient_scope", error_description="{message}"'
        super().__init__(description=message, headers={"WWW-Authenticate": challenge})


def error_body(error: falcon.HTTPError) -> dict[str, Any]:
    code = error.status_code
    body: dict[str, Any] = {
        "status": "error" if code >= 500 else "fail",
        "message": error.description or HTTPStatus(code).phrase,
    }
    errors = getattr(error, "errors", None)
    if errors:
        body["errors"] = errors
    return body


def serialize_error(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError) -> None:
    """Falcon error serializer: JSON whatever the client's Accept header says."""
    resp.content_type = falcon.MEDIA_JSON
    resp.data = media.dumps(error_body(error))


def handle_database_unavailable(req: falcon.Request, resp: falcon.Response,
                                error: Exception, params: dict) -> None:
    log.error("database unavailable during %s %s: %s", req.method, req.path, error)
    raise falcon.HTTPServiceUnavailable(description="Service unavailable")


def handle_last_administrator(req: falcon.Request, resp: falcon.Response,
                              error: Exception, params: dict) -> None:
    raise falcon.HTTPConflict(description=str(error))


def handle_hashing_busy(req: falcon.Request, resp: falcon.Response,
                        error: Exception, params: dict) -> None:
    log.warning("password hashing busy: %s %s refused", req.method, req.path)
    raise falcon.HTTPServiceUnavailable(description="Service unavailable",
                                        retry_after=PasswordHashingBusy.retry_after)


def handle_unexpected(req: falcon.Request, resp: falcon.Response,
                      error: Exception, params: dict) -> None:
    log.exception("unhandled error during %s %s", req.method, req.path)
    raise falcon.HTTPInternalServerError(description="Internal server error")


ERROR_HANDLERS = (
    (Exception, handle_unexpected),
    (UNAVAILABLE, handle_database_unavailable),
    (LastAdministrator, handle_last_administrator),
    (PasswordHashingBusy, handle_hashing_busy),
)
