"""/auth/sessions: the caller's live sessions (one per token issued), and ending one."""
from __future__ import annotations

import re
from typing import Any

import falcon

from widgetapi.models import Session
from widgetapi.pagination import paginate, requested_page
from widgetapi.timeutil import format_datetime
from widgetapi.validation import Validator

# A session's id is its token's jti; anything else cannot name one (nor reach the database:
# PostgreSQL refuses a NUL in text with an error).
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class SessionNotFound(falcon.HTTPNotFound):
    def __init__(self, session_id: str) -> None:
        super().__init__(description=f"Session {session_id} not found.")


class Sessions:
    def __init__(self, validator: Validator) -> None:
        self._validator = validator

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        page, per_page = requested_page(req, self._validator)
        current = req.context.claims.jti
        resp.media = paginate(req, resp, Session.live(req.context.user), page, per_page,
                              lambda session: represent_session(session, current))

    def on_delete_item(self, req: falcon.Request, resp: falcon.Response, session_id: str) -> None:
        if not SESSION_ID.fullmatch(session_id) or not Session.end(req.context.user, session_id):
            raise SessionNotFound(session_id)
        resp.status = falcon.HTTP_NO_CONTENT


def represent_session(session: Session, current_jti: str) -> dict[str, Any]:
    return {
        "id": session.jti,
        "issued_at": format_datetime(session.issued_at),
        "expires_at": format_datetime(session.expires_at),
        "address": session.address,
        "user_agent": session.user_agent,
        "current": session.jti == current_jti,
    }
