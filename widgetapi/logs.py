"""Logging: one line per request, an `X-Request-ID` on every response, and that id on every
record logged while the request is served, as text or as one JSON object a line.

widgetapi's loggers get their own handler here, set up by create_app, so the lines look the
same whichever server runs the app (`widgetapi serve`, waitress-serve, gunicorn) and never
come out twice through a handler the server put on the root logger.
"""
from __future__ import annotations

import json
import logging
import re
import sys
import time
import unicodedata
import uuid
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any, TextIO

import falcon

REQUEST_ID_HEADER = "X-Request-ID"
MAX_REQUEST_ID_LENGTH = 128
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]+")
NO_REQUEST = "-"
NO_ROUTE = "(no route)"  # unknown paths and static files: one name, so labels stay few

# Loggers whose records go through widgetapi's handler (waitress: `widgetapi serve`'s server).
LOGGERS = ("widgetapi", "waitress")
# The fields of an access line, as JSON keys.
ACCESS_FIELDS = ("method", "route", "status", "duration_ms", "client", "user")

ACCESS_LOGGER = "widgetapi.access"
# method, route, status, duration, client address, " user=<public_id>" or ""
ACCESS_MESSAGE = "%s %s %d %.1fms client=%s%s"

_current_request_id: ContextVar[str] = ContextVar("widgetapi_request_id", default=NO_REQUEST)
access_log = logging.getLogger(ACCESS_LOGGER)
_widgetapi_log = logging.getLogger("widgetapi")


def request_id_for(sent: str | None) -> str:
    """The client's own request id when it is 1-128 of letters, digits, `-`, `_` and `.`;
    else a new one."""
    if sent and len(sent) <= MAX_REQUEST_ID_LENGTH and _REQUEST_ID.fullmatch(sent):
        return sent
    return uuid.uuid4().hex


class RequestLog:
    """Falcon middleware, first in line: gives the request its id (on the response and on
    every record logged meanwhile) and logs one line when the response is ready."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        request_id = request_id_for(req.get_header(REQUEST_ID_HEADER))
        req.context.request_id = request_id
        req.context.log_token = _current_request_id.set(request_id)
        req.context.started = time.perf_counter()

    def process_response(self, req: falcon.Request, resp: falcon.Response,
                         resource: object, req_succeeded: bool) -> None:
        resp.set_header(REQUEST_ID_HEADER, req.context.request_id)
        milliseconds = round((time.perf_counter() - req.context.started) * 1000, 1)
        user = getattr(req.context, "user", None)
        public_id = str(user.public_id) if user is not None else None
        route = req.uri_template or NO_ROUTE
        status = resp.status_code
        # the client as throttling sees it (TRUSTED_PROXIES), not the proxy that passed it on
        seen = getattr(req.context, "client", None)
        address = seen.address if seen is not None else (req.remote_addr or "-")
        args = (req.method, route, status, milliseconds, address, f" user={public_id}" if public_id else "")
        fields = {"method": req.method, "route": route, "status": status, "duration_ms": milliseconds,
                  "client": address, "user": public_id}
        if not _write_directly(ACCESS_MESSAGE % args, fields):
            access_log.info(ACCESS_MESSAGE, *args, extra=fields)
        _current_request_id.reset(req.context.log_token)


def _write_directly(message: str, fields: dict[str, Any]) -> bool:
    """Write an access line as widgetapi's handler would, without logging's machinery (a
    LogRecord, its getpid and thread name, the filter, the formatter: most of what a line
    costs), when logging is still as configure_logging left it: the same bytes, one write.
    Anything else configured (another handler, a filter, a level, logging.disable, a record
    factory) and it is False: the line goes through logging."""
    handler = _installed
    if handler is None or not _as_configured(handler):
        return False
    created = time.time()
    request_id = _current_request_id.get()
    if isinstance(handler.formatter, JsonFormatter):
        line = json.dumps({"time": _timestamp(created), "level": "INFO", "logger": ACCESS_LOGGER,
                           "request_id": request_id, "message": printable(message), **fields},
                          ensure_ascii=False)
    else:
        line = printable(f"{_timestamp(created)} INFO {ACCESS_LOGGER} [{request_id}] {message}")
    handler.acquire()  # as Handler.handle does: whole lines, whichever thread writes
    try:
        stream = handler.stream
        stream.write(line + handler.terminator)
        stream.flush()
    except Exception:  # a closed or broken stream: logging reports it its own way
        return False
    finally:
        handler.release()
    return True


def _as_configured(handler: logging.Handler) -> bool:
    parent = _widgetapi_log
    return (access_log.isEnabledFor(logging.INFO) and not access_log.handlers and not access_log.filters
            and access_log.propagate and not access_log.disabled
            and parent.handlers == [handler] and not parent.filters and not parent.propagate
            and not parent.disabled and handler.level <= logging.INFO and len(handler.filters) == 1
            and type(handler.filters[0]) is _RequestIdFilter
            and type(handler.formatter) in (TextFormatter, JsonFormatter)
            and logging.getLogRecordFactory() is logging.LogRecord)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current_request_id.get()
        return True


def _timestamp(created: float) -> str:
    moment = datetime.fromtimestamp(created, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# What a client could use to forge a log line or drive a terminal: control characters
# (newlines, ESC, the C1 range), format characters (bidi overrides, zero-width) and line
# and paragraph separators.
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def printable(text: str, keep: str = "") -> str:
    """`text` with each control, format and separator character but those in `keep` written
    as its Python escape (`\\n`, `\\x1b`, `\\u202e`). Every log line goes through it: a
    request's path, an email, a header value never reach the log raw."""
    if text.isprintable():
        return text
    return "".join(c.encode("unicode_escape").decode("ascii")
                   if c not in keep and unicodedata.category(c) in UNSAFE_CATEGORIES else c
                   for c in text)


class TextFormatter(logging.Formatter):
    """`<UTC time> <LEVEL> <logger> [<request id>] <message>`, then any traceback, each of
    its lines indented: no line but a record's first can start like a record."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return _timestamp(record.created)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802
        return printable(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:  # noqa: N802
        return _indented(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return _indented(stack_info)


def _indented(text: str) -> str:
    return "\n".join(f"    {line}" for line in printable(text, keep="\n").split("\n"))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, request_id, message, the access
    fields on access lines, and `exception` with a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", NO_REQUEST),
            "message": printable(record.getMessage()),
        }
        for name in ACCESS_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = printable(self.formatException(record.exc_info), keep="\n")
        # ensure_ascii=False writes C1 controls and separators raw: printable() took them out
        return json.dumps(entry, ensure_ascii=False)


class _StandardError(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record comes (as logging's last resort
    does), so a replaced stderr (a test's capture, a daemon's redirect) gets the lines."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:
        return sys.stderr


_installed: _StandardError | None = None


def configure_logging(log_format: str) -> None:
    """Send widgetapi's log records (INFO and up) to stderr as `text` or `json`, with the
    request id on each. Calling it again replaces the handler it installed before."""
    global _installed
    handler = _StandardError()
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.set_name("widgetapi")
    for name in LOGGERS:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if h.get_name() == "widgetapi"]:
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.propagate = False  # a root handler (basicConfig, a server's) would repeat each line
    logging.getLogger("widgetapi").setLevel(logging.INFO)
    _installed = handler
