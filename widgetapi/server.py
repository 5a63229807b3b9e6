"""How `widgetapi serve` runs waitress: limits that keep one client from exhausting the
server, and JSON for the errors waitress answers itself.

waitress reads a whole request (headers and body) before the app sees it, so the body limit
must be waitress's own: a body larger than the API takes is refused from its
`Content-Length` (or, chunked, as soon as it grows past the limit) before anything is
stored. waitress answers those (413, 431, 400 for a malformed request) with plain text;
`JsonErrorTask` answers them in the API's JSON error shape instead. `listen` makes the server,
saying in one line what is wrong with a host or port it cannot listen on.
"""
from __future__ import annotations

import errno
import socket
from http import HTTPStatus
from typing import Any

from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer
from waitress.server import create_server as create_waitress_server
from waitress.task import ErrorTask

from widgetapi import media
from widgetapi.body import MAX_BODY_BYTES, TOO_LARGE
from widgetapi.operations import OperationFailed

# Open connections waitress keeps at once (idle ones included; waitress's default is 100,
# so 100 idle sockets shut everyone else out). poll() instead of select(), which cannot
# watch descriptors past 1024.
CONNECTION_LIMIT = 1000
# A connection that sends nothing for this long is closed (waitress's default: 120 s).
IDLE_TIMEOUT_SECONDS = 30
MAX_HEADER_BYTES = 32 * 1024


def waitress_options(threads: int) -> dict[str, Any]:
    """Keyword arguments for `waitress.serve(app, host=..., port=..., **waitress_options(n))`."""
    return {
        "threads": threads,
        "ident": "widgetapi",
        "connection_limit": CONNECTION_LIMIT,
        "asyncore_use_poll": True,
        "channel_timeout": IDLE_TIMEOUT_SECONDS,
        "cleanup_interval": 5,
        "max_request_header_size": MAX_HEADER_BYTES,
        # waitress refuses a body of max_request_body_size bytes or more; chunked bodies
        # count their chunk framing too.
        "max_request_body_size": MAX_BODY_BYTES + 1,
        # waitress 3 deletes X-Forwarded-* before the app runs unless told otherwise; the app
        # believes them only from TRUSTED_PROXIES (widgetapi/clients.py), under every server.
        "clear_untrusted_proxy_headers": False,
        # waitress.serve's hook for making the server: ours answers its errors in JSON.
        "_server": create_server,
    }


class JsonErrorTask(ErrorTask):
    """waitress's own error responses, as `{"status": "fail", "message": ...}`."""

    def execute(self) -> None:
        request: Any = self.request
        error = request.error
        code = int(error.code)
        too_large = code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
        message = TOO_LARGE if too_large else f"{error.reason}: {error.body}"
        body = media.dumps({"status": "error" if code >= 500 else "fail", "message": message})
        self.status = f"{code} {error.reason}"
        headers: Any = self.response_headers
        headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    error_task_class = JsonErrorTask


def create_server(app: Any, **options: Any) -> Any:
    """waitress.server.create_server, with JSON error responses on every listening socket."""
    socket_map: dict[int, Any] = {}
    server = create_waitress_server(app, map=socket_map, **options)
    for dispatcher in socket_map.values():
        if isinstance(dispatcher, BaseWSGIServer):
            dispatcher.channel_class = JsonErrorChannel
    return server


def listen(app: Any, host: str, port: int, threads: int) -> Any:
    """A server for `app` listening on `host` and `port` (not yet serving), or
    OperationFailed naming what is wrong: the host or the port."""
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as error:
        raise OperationFailed(
            f"cannot listen on {host}: no such host or address ({getattr(error, 'strerror', None) or error}; "
            "--host takes an address of this machine, or a name that resolves to one)") from None
    # waitress.serve's hook for making the server is ours already: made here, not by serve
    options = {name: value for name, value in waitress_options(threads).items() if name != "_server"}
    try:
        return create_server(app, host=host, port=port, **options)
    except ValueError:  # waitress could not resolve it after all
        raise OperationFailed(f"cannot listen on {host}: no such host or address") from None
    except OSError as error:
        reason = error.strerror or str(error)
        if error.errno == errno.EADDRNOTAVAIL:
            raise OperationFailed(
                f"cannot listen on {host}: {reason} (it is not an address of this machine; "
                "0.0.0.0 listens on every interface)") from None
        if error.errno == errno.EACCES:
            raise OperationFailed(
                f"cannot listen on {host} port {port}: {reason} (ports below 1024 need privileges; "
                "choose another with --port)") from None
        raise OperationFailed(
            f"cannot listen on {host} port {port}: {reason} "
            "(is another server using it? choose another with --port)") from None
