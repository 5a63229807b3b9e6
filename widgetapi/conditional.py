"""Conditional requests (RFC 9110, section 13) on items that carry a row version.

Each stored item has a `version` that every write increments. Its strong ETag is a digest of
what identifies that stored state: the row's id, when it was created (an id the database
hands out again after a delete names another item) and its version. So it changes with every
write and with nothing else (not with values computed for each response).

The write that a precondition guards runs as `UPDATE/DELETE ... WHERE id = ? AND version = ?`
with the version the ETag was checked against: of two writers with the same If-Match one
changes the row and the other changes nothing and gets 412, on every database and across
processes.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import falcon

Tags = Sequence[falcon.ETag | str]  # what req.if_match and req.if_none_match hold ("*" or ETags)


class Changed(falcon.HTTPPreconditionFailed):
    """412: an If-Match names no current version (or If-None-Match names the current one)."""

    def __init__(self, noun: str) -> None:
        super().__init__(description=f"the {noun} has changed since you read it")


def entity_tag(item: Any) -> str:
    """The strong ETag (opaque part) of a stored item: `id`, `created_at` and `version`."""
    state = f"{item.id}:{item.created_at.isoformat()}:{item.version}"
    return hashlib.blake2b(state.encode(), digest_size=12).hexdigest()


def conditional(req: falcon.Request) -> bool:
    """Whether the request has a precondition to evaluate."""
    return _if_match(req) is not None or req.if_none_match is not None


def _if_match(req: falcon.Request) -> Tags | None:
    """req.if_match, except that a blank one (or commas alone) is the empty list, which names
    no ETag (RFC 9110, 13.1.1), rather than no header: Falcon's None would let the write it
    guards go through unconditionally (`If-Match: $ETAG` with the variable unset)."""
    if req.if_match is None and req.get_header("If-Match") is not None:
        return []
    return req.if_match


def _any(tag: falcon.ETag | str) -> bool:
    """The wildcard `*`, which Falcon gives as a str: an ETag equal to "*" is the entity tag
    `"*"` (or `W/"*"`), no wildcard."""
    return tag == "*" and not isinstance(tag, falcon.ETag)


def _strong_match(tags: Tags, current: str | None) -> bool:
    """If-Match: strong comparison; `*` matches any current item."""
    return current is not None and any(
        _any(tag) or (isinstance(tag, falcon.ETag) and not tag.is_weak and tag == current) for tag in tags)


def _weak_match(tags: Tags, current: str | None) -> bool:
    """If-None-Match: weak comparison; `*` matches any current item."""
    return current is not None and any(_any(tag) or tag == current for tag in tags)


def not_modified(req: falcon.Request, resp: falcon.Response, current: str) -> bool:
    """For GET and HEAD: set the ETag; True (and 304) when If-None-Match names it, and
    then the responder sends nothing more."""
    resp.etag = current
    if req.if_none_match is not None and _weak_match(req.if_none_match, current):
        resp.status = falcon.HTTP_NOT_MODIFIED
        return True
    return False


def check_preconditions(req: falcon.Request, current: str | None, noun: str) -> None:
    """For PUT, PATCH and DELETE: raise Changed (412) when If-Match names no current ETag
    (`current` None: there is no item), or If-None-Match names the current one (`*`: any)."""
    if_match = _if_match(req)
    if if_match is not None and not _strong_match(if_match, current):
        raise Changed(noun)
    if req.if_none_match is not None and _weak_match(req.if_none_match, current):
        raise Changed(noun)


def version_to_write(req: falcon.Request, current: Any | None, noun: str) -> int | None:
    """The version a guarded write must still find (check_preconditions passed for
    `current`, the item as read, None when there is none); None when the request has no
    precondition, or when there is no item to find."""
    if not conditional(req):
        return None
    check_preconditions(req, None if current is None else entity_tag(current), noun)
    return None if current is None else int(current.version)
