"""ALLOWED_HOSTS: the host names the API answers for.

Absolute URLs (`Location`, links) are built from the request's host, so a request naming
another host (`Host: attacker.example`, or a trusted proxy's `X-Forwarded-Host`) must not be
answered: a cache or a password-reset mail could carry that host to other users.
"""
from __future__ import annotations

from collections.abc import Iterable

import falcon


class UnknownHost(falcon.HTTPBadRequest):
    def __init__(self) -> None:
        super().__init__(description="Unknown host")


def split_port(host: str) -> tuple[str, str | None]:
    """`name[:port]` (or `[v6][:port]`) as (name, port or None), the name lower-cased."""
    host = host.lower()
    if host.startswith("["):
        name, _, rest = host.partition("]")
        return f"{name}]", rest[1:] if rest.startswith(":") else None
    name, colon, port = host.partition(":")
    return name, port if colon else None


class AllowedHosts:
    """`allows(host)`: whether `host` (`name[:port]`) is one of the entries: a name without a
    port allows it on any port, `name:port` on that port only, `.example.com` allows
    example.com and its subdomains, `*` everything. No entries allow everything."""

    def __init__(self, entries: Iterable[str]) -> None:
        self._entries = tuple(split_port(entry) for entry in entries)
        self._any = not self._entries or ("*", None) in self._entries

    def allows(self, host: str) -> bool:
        if self._any:
            return True
        name, port = split_port(host)
        name = name.rstrip(".")  # `example.com.` is example.com
        return any(_matches(name, port, pattern, pattern_port) for pattern, pattern_port in self._entries)


def _matches(name: str, port: str | None, pattern: str, pattern_port: str | None) -> bool:
    if pattern_port is not None and pattern_port != port:
        return False
    if pattern.startswith("."):
        return name == pattern[1:] or name.endswith(pattern)
    return name == pattern
