"""Reading request bodies: JSON or an HTML form, at most 64 KiB, always a flat object."""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import unquote_to_bytes

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


class WrittenWithExponent(Decimal):
    """A JSON number written with an exponent (`1e2`): its value, and that it was so written."""


def _decimal(text: str) -> Decimal:
    """A JSON number with a fraction or exponent, exactly: `999999.99` as a float would be
    999999.98999..."""
    return (WrittenWithExponent if "e" in text or "E" in text else Decimal)(text)


def _integer(text: str) -> int | Decimal:
    """A JSON integer; one too long for int() (over 4300 digits) is still a number, which
    validation then refuses as too large, rather than JSON that does not parse."""
    return int(text) if len(text) <= 4000 else Decimal(text)


def _no_constant(name: str) -> Any:
    """NaN, Infinity and -Infinity are not JSON (RFC 8259), though Python's parser reads them."""
    raise ValueError(f"{name} is not JSON")


def _parse_json(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw, parse_float=_decimal, parse_int=_integer, parse_constant=_no_constant)
        # A "\ud800" escape parses to a lone surrogate, which no database or encoder takes
        # (I-JSON, RFC 7493, forbids it): refuse it here rather than fail later with a 500.
        json.dumps(data, ensure_ascii=False, default=str).encode("utf-8")
    except (ValueError, RecursionError):  # UnicodeDecodeError and UnicodeEncodeError too
        raise falcon.HTTPBadRequest(description="The body is not valid JSON") from None
    if not isinstance(data, dict):
        raise falcon.HTTPBadRequest(description="The body must be a JSON object")
    return data


def _parse_form(raw: bytes) -> dict[str, Any]:
    not_utf8 = falcon.HTTPBadRequest(description="The form body is not valid UTF-8")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise not_utf8 from None
    if text.lstrip().startswith(("{", "[")):  # curl -d '{...}' without -H 'Content-Type: ...'
        raise falcon.HTTPBadRequest(description=JSON_AS_FORM)
    try:
        # The %-escapes too: falcon would replace bytes that are not UTF-8 with U+FFFD,
        # silently storing another password (or email) than the one sent.
        unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        raise not_utf8 from None
    return parse_query_string(text, keep_blank=True, csv=False)


def _too_large() -> falcon.HTTPContentTooLarge:
    return falcon.HTTPContentTooLarge(description=TOO_LARGE)
