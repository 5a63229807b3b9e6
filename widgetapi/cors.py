"""CORS for browser front ends: Falcon's own middleware, for the origins configured."""
from __future__ import annotations

import falcon

# Browsers hide response headers from scripts unless they are exposed.
EXPOSED_HEADERS = ["Location", "Link", "Total-Count", "WWW-Authenticate", "X-Request-ID", "ETag"]


class CORS(falcon.CORSMiddleware):
    """falcon.CORSMiddleware for a list of origins. Falcon answers preflights itself
    (the Authentication middleware lets every OPTIONS request through); this adds
    `Vary: Origin`, because the response depends on the Origin header and caches must
    not hand one origin's answer to another."""

    def __init__(self, origins: tuple[str, ...]) -> None:
        super().__init__(allow_origins=list(origins), expose_headers=EXPOSED_HEADERS)

    def process_response(self, req: falcon.Request, resp: falcon.Response,
                         resource: object, req_succeeded: bool) -> None:
        super().process_response(req, resp, resource, req_succeeded)
        resp.append_header("Vary", "Origin")
