"""Authentication (a middleware that turns a Bearer token into a user) and
authorization (a hook that requires an administrator)."""
from __future__ import annotations

import falcon

from widgetapi.errors import NotAdministrator, Unauthorized
from widgetapi.keys import KeyRing
from widgetapi.models import User
from widgetapi.tokens import TokenError, VerifiedTokens


class Authentication:
    """Falcon middleware. Every route needs a valid access token unless its resource says
    `auth_required = False`; CORS preflights never do, nor static files and unknown paths
    (no resource: nothing to protect). Puts `user` and `claims` on `req.context`.

    A token's signature is checked once (VerifiedTokens remembers it); its time limits, its
    session and its user on every request."""

    def __init__(self, keys: KeyRing) -> None:
        self._tokens = VerifiedTokens(keys)

    def process_resource(self, req: falcon.Request, resp: falcon.Response,
                         resource: object, params: dict) -> None:
        if req.method == "OPTIONS" or resource is None or not getattr(resource, "auth_required", True):
            return
        try:
            claims = self._tokens.decode(bearer_token(req))
        except TokenError as error:
            raise Unauthorized(str(error), invalid_token=True) from None
        user = User.for_token(claims.public_id, claims.jti)
        if user is None:
            raise Unauthorized("Invalid token. Please log in again.", invalid_token=True)
        if user.refuses_token(claims.issued_at):
            raise Unauthorized("Token blacklisted. Please log in again.", invalid_token=True)
        req.context.user = user
        req.context.claims = claims


def bearer_token(req: falcon.Request) -> str:
    """The token of an `Authorization: Bearer` header; 401 when there is none."""
    scheme, _, token = (req.auth or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthorized()
    if not token.strip():
        raise Unauthorized("Invalid token. Please log in again.", invalid_token=True)
    return token.strip()


def is_admin(req: falcon.Request) -> bool:
    """Whether the token says admin and the user still is one."""
    return bool(req.context.claims.admin and req.context.user.admin)


def require_admin(req: falcon.Request, resp: falcon.Response, resource: object, params: dict) -> None:
    """falcon.before hook: the caller must be an administrator (is_admin)."""
    if not is_admin(req):
        raise NotAdministrator()
