"""Who is calling: the client's address, and the scheme and host it used, believing
`X-Forwarded-For`/`-Proto`/`-Host` only from a trusted proxy (TRUSTED_PROXIES).

Throttling keys on the address; absolute URLs (`Location`, links) are built from the
scheme and host. Other code reads them from `req.context.client`."""
from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

import falcon

from widgetapi.hosts import AllowedHosts, UnknownHost

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# host[:port] as a client may send it: a name, an IPv4 address or a bracketed IPv6 one.
HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])"
                  r"(?::[0-9]{1,5})?")


@dataclass(frozen=True)
class Client:
    """The client of one request, as `req.context.client`."""

    address: str
    scheme: str
    host: str
    root_path: str = ""

    @property
    def url_prefix(self) -> str:
        """`scheme://host` and the app's root path: what absolute URLs start with."""
        return f"{self.scheme}://{self.host}{self.root_path}"


class TrustedProxies:
    """The TRUSTED_PROXIES networks, and the client they let a request name."""

    def __init__(self, proxies: Iterable[str]) -> None:
        self._networks: tuple[Network, ...] = tuple(ipaddress.ip_network(p, strict=False) for p in proxies)

    def trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)

    def client(self, req: falcon.Request) -> Client:
        peer = _peer(req.remote_addr)
        scheme, host = req.scheme, req.netloc
        if self._networks and self.trusts(peer):
            return Client(self._forwarded_for(peer, req.get_header("X-Forwarded-For")),
                          _forwarded_scheme(req) or scheme, _forwarded_host(req) or host, req.root_path)
        return Client(peer, scheme, host, req.root_path)

    def _forwarded_for(self, peer: str, header: str | None) -> str:
        """The right-most address of X-Forwarded-For that is not a trusted proxy: each proxy
        appends the address it got the request from, so what lies left of an untrusted hop
        may be made up by the client."""
        client = peer
        for hop in reversed((header or "").split(",")):
            hop = _strip_port(hop.strip())
            try:
                hop = str(ipaddress.ip_address(hop))
            except ValueError:  # no trusted proxy writes that: stop at the last good hop
                return client
            client = hop
            if not self.trusts(hop):
                return client
        return client


@functools.lru_cache(maxsize=1024)  # a server sees few peers (a proxy, a few clients) again and again
def _peer(remote_addr: str | None) -> str:
    """The peer's address; a unix socket has none (gunicorn says `''`, waitress `localhost`):
    it is 127.0.0.1, as whoever connects is on this machine."""
    try:
        return str(ipaddress.ip_address(remote_addr or ""))
    except ValueError:
        return "127.0.0.1"


def _strip_port(hop: str) -> str:
    if hop.startswith("["):  # [v6]:port
        return hop[1:].split("]", 1)[0]
    if hop.count(":") == 1:  # v4:port
        return hop.split(":", 1)[0]
    return hop


def _first(req: falcon.Request, name: str) -> str:
    return (req.get_header(name) or "").split(",")[0].strip()


def _forwarded_scheme(req: falcon.Request) -> str | None:
    scheme = _first(req, "X-Forwarded-Proto").lower()
    return scheme if scheme in ("http", "https") else None


def _forwarded_host(req: falcon.Request) -> str | None:
    host = _first(req, "X-Forwarded-Host")
    return host if HOST.fullmatch(host) else None


class ClientMiddleware:
    """Falcon middleware: puts the request's `Client` on `req.context.client`, and refuses
    a host that is not in ALLOWED_HOSTS (`400 Unknown host`)."""

    def __init__(self, trusted_proxies: Iterable[str], allowed_hosts: Iterable[str] = ()) -> None:
        self._proxies = TrustedProxies(trusted_proxies)
        self._hosts = AllowedHosts(allowed_hosts)

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        client = self._proxies.client(req)
        req.context.client = client
        if not self._hosts.allows(client.host):
            raise UnknownHost()
