"""Request validation: JSON Schemas from openapi.yaml plus the formats JSON Schema
cannot express, reported as one message per failing field.

Validation costs time linear in the input and bounded by the schema: a string's
`maxLength`/`minLength` are checked before its `pattern` and `format`, which do not run at
all when a length fails (so they never see more than the limit), the formats are linear
checks, and `pattern` has ECMA-262 semantics, as JSON Schema means (`^[a-z]+$` refuses
"abc\n", which Python's `$` would let through)."""
from __future__ import annotations

import decimal
import functools
import re
import unicodedata
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import jsonschema.validators
import referencing
import referencing.jsonschema
import regress

from widgetapi.body import WrittenWithExponent
from widgetapi.errors import ValidationFailed
from widgetapi.passwords import BCRYPT_MAX_BYTES
from widgetapi.timeutil import parse_date_or_datetime, utcnow

SPEC_URI = "urn:widgetapi:openapi"
# Control characters: never in a URL, and PostgreSQL text cannot hold NUL.
CONTROL = re.compile(r"[\x00-\x1f\x7f]")

formats = jsonschema.FormatChecker(formats=())


@formats.checks("email", raises=ValueError)
def check_email(value: object) -> bool:
    """x@y.z: one `@`, something before it, a dot with something either side after it, and
    no spaces or control characters. A linear scan: no regex to backtrack."""
    if isinstance(value, str) and not _plausible_email(value):
        raise ValueError(f"{value} is not a valid email")
    return True


# Control, format (zero-width, bidi overrides and marks) and line or paragraph separator
# characters: invisible, or they reorder what is shown, so an address with one reads as another.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def _plausible_email(value: str) -> bool:
    local, at, domain = value.partition("@")
    if not (at and local and "@" not in domain and "." in domain[1:-1]):
        return False
    return not any(c.isspace() or unicodedata.category(c) in INVISIBLE_CATEGORIES for c in value)


def normalize_email(value: str) -> str:
    """An email as the service keeps and compares it: trimmed, its fullwidth and halfwidth
    forms mapped to the usual ones (`ａ` → `a`, `＠` → `@`; PRECIS's width mapping, RFC 8264),
    NFC-normalized (a letter and its combining accent become the one accented letter),
    lower-cased (and normalized again: lower-casing can decompose)."""
    mapped = "".join(_narrowed(c) for c in value.strip())
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", mapped).lower())


def _narrowed(c: str) -> str:
    decomposition = unicodedata.decomposition(c)
    if decomposition.startswith(("<wide> ", "<narrow> ")):
        return "".join(chr(int(code, 16)) for code in decomposition.split()[1:])
    return c


@formats.checks("http-url", raises=ValueError)
def check_http_url(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        parts = urlsplit(value)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a bad port or IPv6 literal
        valid = False
    if not valid or CONTROL.search(value) or "\\" in value or any(_unseen(c) for c in value):
        raise ValueError(f"{value} is not a valid http or https URL")
    return True


def _unseen(c: str) -> bool:
    """Space, or an invisible or bidi format character (U+200B, U+202E, ...): a URL with
    one reads as another."""
    return c.isspace() or unicodedata.category(c) == "Cf"


@formats.checks("today-or-later", raises=ValueError)
def check_today_or_later(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        deadline = parse_date_or_datetime(value)
    except ValueError:
        raise ValueError(f"{value} is not an ISO 8601 date or date-time") from None
    if deadline.date() < utcnow().date():
        raise ValueError(f"{value} is in the past: the date must be today (UTC) or later")
    return True


@formats.checks("password", raises=ValueError)
def check_password_bytes(value: object) -> bool:
    if isinstance(value, str) and len(value.encode()) > BCRYPT_MAX_BYTES:
        raise ValueError(f"must be at most {BCRYPT_MAX_BYTES} bytes in UTF-8")
    return True


@formats.checks("no-exponent", raises=ValueError)
def check_no_exponent(value: object) -> bool:
    """A JSON number written plainly: `100`, `12.5`, not `1e2` (widgetapi.body marks those)."""
    if isinstance(value, WrittenWithExponent):
        raise ValueError("must be written without an exponent")
    return True


PARAMETER_REMEMBERED_LENGTH = 128


class Validator:
    """Validates bodies and parameters against the spec's schemas by name."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        resource = referencing.Resource.from_contents(
            spec, default_specification=referencing.jsonschema.DRAFT202012)
        self._registry: referencing.Registry = referencing.Registry().with_resource(SPEC_URI, resource)
        self._validators: dict[str, jsonschema.protocols.Validator] = {}
        self._schemas: dict[str, Any] = {}
        self._remembered = functools.lru_cache(maxsize=1024)(self._error_items)

    def validate(self, pointer: str, instance: Any) -> None:
        """Raise ValidationFailed naming every failing field of `instance`, checked against
        the schema at `pointer` in the spec (e.g. "/components/schemas/NewWidget")."""
        errors = self.errors(pointer, instance)
        if errors:
            raise ValidationFailed(errors)

    def errors(self, pointer: str, instance: Any, name: str = "body") -> dict[str, str]:
        """Messages by field; `name` is the field for errors about `instance` as a whole."""
        found: dict[str, str] = {}
        for error in self._validator(pointer).iter_errors(instance):
            for field, message in _describe(error, name):
                found.setdefault(field, message)
        return found

    def parameter_errors(self, pointer: str, value: int | str, name: str) -> dict[str, str]:
        """errors() for a path or query parameter, remembered for short values: the same few
        (a page size, a widget's name) come on request after request, and a parameter's
        verdict never changes (no parameter's format depends on the date)."""
        if isinstance(value, str) and len(value) > PARAMETER_REMEMBERED_LENGTH:
            return self.errors(pointer, value, name)
        return dict(self._remembered(pointer, value, name))

    def _error_items(self, pointer: str, value: int | str, name: str) -> tuple[tuple[str, str], ...]:
        return tuple(self.errors(pointer, value, name).items())

    def schema(self, pointer: str) -> Any:
        """The part of the spec at a JSON pointer (looked up once: it is on hot paths)."""
        if pointer not in self._schemas:
            self._schemas[pointer] = self._registry.resolver(SPEC_URI).lookup(f"#{pointer}").contents
        return self._schemas[pointer]

    def _validator(self, pointer: str) -> jsonschema.protocols.Validator:
        if pointer not in self._validators:
            self._validators[pointer] = BoundedValidator(
                {"$ref": f"{SPEC_URI}#{pointer}"}, registry=self._registry, format_checker=formats)
        return self._validators[pointer]


def _length_fails(schema: Mapping[str, Any], instance: Any) -> bool:
    return isinstance(instance, str) and not (
        schema.get("minLength", 0) <= len(instance) <= schema.get("maxLength", len(instance)))


def _length_first(keyword: Any) -> Any:
    """A pattern/format keyword that does not run when the schema's length limits fail:
    the length keyword reports that, and the check never sees more than the limit."""

    def check(validator: Any, value: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
        if not _length_fails(schema, instance):
            yield from keyword(validator, value, instance, schema)

    return check


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    if isinstance(instance, str) and not pattern_matches(pattern, instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


def pattern_matches(pattern: str, instance: str) -> bool:
    """Whether `instance` matches the schema `pattern` with ECMA-262 semantics (unanchored
    search, `$` at the very end only), as JSON Schema specifies."""
    return _compiled(pattern).find(instance) is not None


@functools.lru_cache(maxsize=64)
def _compiled(pattern: str) -> regress.Regex:
    return regress.Regex(pattern)


def _exact(keyword: Any) -> Any:
    """minimum, maximum or multipleOf on a JSON number read exactly (a Decimal, or an int):
    against the bound as written in the spec, not the binary float YAML reads it as
    (999999.99 as a float is a little less than 999999.99)."""

    def check(validator: Any, bound: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
        if isinstance(bound, float) and type(instance) in (int, Decimal, WrittenWithExponent):
            bound, instance = Decimal(repr(bound)), Decimal(instance)
        try:
            yield from keyword(validator, bound, instance, schema)
        except decimal.InvalidOperation:  # a remainder beyond Decimal's precision: a huge number
            yield jsonschema.ValidationError(f"{instance} is too large to check")

    return check


_DRAFT_KEYWORDS = jsonschema.Draft202012Validator.VALIDATORS
BoundedValidator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {
    "pattern": _length_first(_ecma_pattern),
    "format": _length_first(_DRAFT_KEYWORDS["format"]),
    **{name: _exact(_DRAFT_KEYWORDS[name]) for name in ("minimum", "maximum", "multipleOf")},
})


def _describe(error: jsonschema.ValidationError, name: str) -> list[tuple[str, str]]:
    """(field, message) pairs for one jsonschema error."""
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in error.instance]
        return [(name, "is required") for name in missing]
    if error.validator == "additionalProperties":
        known = error.schema.get("properties", {})
        return [(name, "is not a known field") for name in error.instance if name not in known]
    field = str(error.absolute_path[0]) if error.absolute_path else name
    return [(field, _message(error))]


def _message(error: jsonschema.ValidationError) -> str:
    value, schema = error.validator_value, error.schema
    if "x-error-message" in schema and error.validator in ("pattern", "minLength", "maxLength", "anyOf"):
        return schema["x-error-message"]
    if error.validator == "format" and error.cause is not None:
        return str(error.cause)
    if error.validator == "maxLength" and schema.get("format") == "password":
        # more characters than maxLength are more bytes than bcrypt takes too: say the byte
        # limit, as the format would (it does not run past the length limit)
        return f"must be at most {BCRYPT_MAX_BYTES} bytes in UTF-8"
    if error.validator == "type":
        return {"string": "must be a string", "integer": "must be a whole number",
                "boolean": "must be true or false", "object": "must be an object"}.get(value, error.message)
    if error.validator == "minLength":
        return "must not be empty" if value == 1 else f"must be at least {value} characters"
    if error.validator == "maxLength":
        return f"must be at most {value} characters"
    if error.validator == "minimum":
        return f"must be at least {value}"
    if error.validator == "maximum":
        return f"must be at most {value}"
    if error.validator == "minProperties":
        return "must have at least one field" if value == 1 else f"must have at least {value} fields"
    if error.validator == "enum":
        return "must be one of " + ", ".join(str(v) for v in value)
    return error.message
