"""JSON as every response writes it: orjson's bytes (compact, UTF-8), for `resp.media`
(Falcon's JSON handler), error bodies, waitress's own errors and the JWK Set alike, so a
client sees one format. It costs a fraction of the standard encoder's work (a page of widgets:
about 13 % of the request's instructions; `python dev.py bench --callgrind`).

Request bodies are still parsed by the standard json module (body.py): what it accepts and
refuses stays the contract. The OpenAPI document is served as the file it is."""
from __future__ import annotations

import json
from typing import Any

import falcon
import orjson


def dumps(value: Any) -> bytes:
    """The JSON of a response body."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        # What orjson refuses to write the standard encoder may escape (a lone surrogate,
        # an integer of more than 64 bits): the same compact format, never a 500 for it.
        return json.dumps(value, separators=(",", ":")).encode()


def json_handler() -> falcon.media.JSONHandler:
    """Falcon's JSON handler, writing with `dumps` (and reading as Falcon does by default)."""
    return falcon.media.JSONHandler(dumps=dumps)
