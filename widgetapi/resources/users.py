"""/users: administrators list accounts."""
from __future__ import annotations

import falcon

from widgetapi.auth import require_admin
from widgetapi.models import USERS
from widgetapi.pagination import paginate, requested_page
from widgetapi.resources.auth import represent_user
from widgetapi.validation import Validator


class Users:
    def __init__(self, validator: Validator) -> None:
        self._validator = validator

    @falcon.before(require_admin)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        page, per_page = requested_page(req, self._validator)
        resp.media = paginate(req, resp, USERS, page, per_page, represent_user)
