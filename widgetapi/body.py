"""Reading request bodies: JSON or an HTML form, at most 64 KiB, always a flat object."""
from __future__ import annotations

import json
from typing import Any

import falcon
from falcon.util.uri import parse_query_string

MAX_BODY_BYTES = 64 * 1024
TOO_LARGE = f"The body must be at most {MAX_BODY_BYTES} bytes"
FORM = "application/x-www-form-urlencoded"
JSON_AS_FORM = f"The body looks like JSON: send it with Content-Type: {falcon.MEDIA_JSON}"


def read_body(req: falcon.Request) -> dict[str, Any]:
    """The request body as a dict; 413, 415 or 400 when it cannot be one."""
    if req.content_length and req.content_length > MAX_BODY_BYTES:
        raise _too_large()
    raw = req.bounded_stream.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise _too_large()
    mimetype = (req.content_type or "").split(";")[0].strip().lower()
    if mimetype == FORM:
        return _parse_form(raw)
    if mimetype == falcon.MEDIA_JSON or (mimetype.startswith("application/") and mimetype.endswith("+json")):
        return _parse_json(raw)
    if not raw and not mimetype:
        return {}
    raise falcon.HTTPUnsupportedMediaType(
        description=f"The body must be {falcon.MEDIA_JSON} or {FORM}, not {mimetype or 'untyped'}")


def _parse_json(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
        # A "\ud800" escape parses to a lone surrogate, which no database or encoder takes
        # (I-JSON, RFC 7493, forbids it): refuse it here rather than fail later with a 500.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError):  # UnicodeDecodeError and UnicodeEncodeError too
        raise falcon.HTTPBadRequest(description="The body is not valid JSON") from None
    if not isinstance(data, dict):
        raise falcon.HTTPBadRequest(description="The body must be a JSON object")
    return data


def _parse_form(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise falcon.HTTPBadRequest(description="The form body is not valid UTF-8") from None
    if text.lstrip().startswith(("{", "[")):  # curl -d '{...}' without -H 'Content-Type: ...'
        raise falcon.HTTPBadRequest(description=JSON_AS_FORM)
    return parse_query_string(text, keep_blank=True, csv=False)


def _too_large() -> falcon.HTTPContentTooLarge:
    return falcon.HTTPContentTooLarge(description=TOO_LARGE)
