"""/users: administrators list accounts, look at one, promote or demote, disable or enable,
delete, and end all of a user's sessions."""
from __future__ import annotations

import re
import uuid
from typing import Any

import falcon

from widgetapi.accounts import delete_user, update_user
from widgetapi.auth import require_admin
from widgetapi.body import FORM, read_body
from widgetapi.models import USERS, Session, User
from widgetapi.pagination import paginate, requested_page
from widgetapi.resources.auth import represent_user
from widgetapi.validation import Validator

USER_UPDATE = "/components/schemas/UserUpdate"
# The canonical text of a UUID. Anything else is no user's id, and never reaches the
# database (PostgreSQL would refuse a malformed uuid, or a NUL, with an error).
PUBLIC_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
FORM_BOOLEANS = {"true": True, "false": False}


class UserNotFound(falcon.HTTPNotFound):
    def __init__(self, public_id: str) -> None:
        super().__init__(description=f"User {public_id} not found.")


def find_user(public_id: str) -> User:
    """The user a path names; 404 for an unknown or malformed id."""
    user = User.by_public_id(uuid.UUID(public_id)) if PUBLIC_ID.fullmatch(public_id) else None
    if user is None:
        raise UserNotFound(public_id)
    return user


@falcon.before(require_admin)
class Users:
    def __init__(self, validator: Validator) -> None:
        self._validator = validator

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        page, per_page = requested_page(req, self._validator)
        resp.media = paginate(req, resp, USERS, page, per_page, represent_user)

    def on_get_item(self, req: falcon.Request, resp: falcon.Response, public_id: str) -> None:
        resp.media = represent_user_detail(find_user(public_id))

    def on_patch_item(self, req: falcon.Request, resp: falcon.Response, public_id: str) -> None:
        """{admin?, disabled?}: promote or demote, disable (ending every session) or enable."""
        user = find_user(public_id)
        body = read_body(req)
        if (req.content_type or "").split(";")[0].strip().lower() == FORM:
            # form fields are strings: "true" and "false" say what JSON's booleans do
            body = {name: FORM_BOOLEANS.get(value.lower(), value) if isinstance(value, str) else value
                    for name, value in body.items()}
        self._validator.validate(USER_UPDATE, body)
        updated = update_user(user, admin=body.get("admin"), disabled=body.get("disabled"))
        if updated is None:
            raise UserNotFound(public_id)
        resp.media = represent_user_detail(updated)

    def on_delete_item(self, req: falcon.Request, resp: falcon.Response, public_id: str) -> None:
        if not delete_user(find_user(public_id)):
            raise UserNotFound(public_id)
        resp.status = falcon.HTTP_NO_CONTENT

    def on_post_logout_all(self, req: falcon.Request, resp: falcon.Response, public_id: str) -> None:
        find_user(public_id).revoke_all_tokens()
        resp.media = {"status": "success", "message": "successfully logged out everywhere"}


def represent_user_detail(user: User) -> dict[str, Any]:
    return {**represent_user(user), "sessions": Session.live(user).count()}
