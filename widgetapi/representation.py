"""What every resource's output shares: absolute URLs the way the client named the host, and
an item's owner as shown."""
from __future__ import annotations

from typing import TYPE_CHECKING

import falcon

if TYPE_CHECKING:
    from widgetapi.models import User


def absolute_url(req: falcon.Request, path: str) -> str:
    """`path` (from /api/v1 on) as an absolute URL, with the scheme and host the client used
    (X-Forwarded-* only from a trusted proxy: widgetapi.clients)."""
    return f"{req.context.client.url_prefix}{path}"


def represent_owner(owner: User | None) -> dict[str, str] | None:
    """The owner as shown on an item; None once the owner's account is deleted."""
    if owner is None:
        return None
    return {"email": owner.email, "public_id": str(owner.public_id)}
