"""/.well-known/jwks.json: the public keys that verify tokens, for other services. No token."""
from __future__ import annotations

import falcon

from widgetapi import media
from widgetapi.keys import JWKS_MAX_AGE_SECONDS, KeyRing


class PublicKeys:
    """The JWK Set (RFC 7517) of the current and previous Ed25519 public keys; 404 with
    HS256, whose keys are secrets."""

    auth_required = False

    def __init__(self, keys: KeyRing) -> None:
        self._body = media.dumps(keys.jwks) if keys.jwks is not None else None

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self._body is None:
            raise falcon.HTTPNotFound()
        resp.content_type = falcon.MEDIA_JSON
        resp.cache_control = ["public", f"max-age={JWKS_MAX_AGE_SECONDS}"]
        resp.data = self._body
