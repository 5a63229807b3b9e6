"""The ceiling: a bare Falcon app answering every request with the same JSON (shaped like
a widget), served by waitress exactly as `widgetapi serve` serves widgetapi.

    python -m bench.bare --port 8001 [--threads 4]
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import falcon
import waitress

BODY = {
    "name": "some-widget", "info_url": "https://example.com/widgets/some-widget",
    "created_at": "2026-11-22T10:00:00Z", "deadline": "2026-12-31T23:59:59Z",
    "deadline_passed": False, "time_remaining": "P39DT13H59M59S",
    "owner": {"email": "admin@bench.example", "public_id": "8d4f2b1e-5c3a-4f6e-9b7d-2a1c0e9f8b6d"},
    "link": "http://127.0.0.1/api/v1/widgets/some-widget",
}


def fixed_json(req: falcon.Request, resp: falcon.Response, **params: Any) -> None:
    resp.media = BODY


def create_app() -> falcon.App:
    app = falcon.App()
    app.add_sink(fixed_json, prefix="/")  # every path, every method
    return app


def waitress_options(threads: int) -> dict[str, Any]:
    """widgetapi's own waitress settings (limits, timeouts), so that the ceiling is served
    exactly as `widgetapi serve` is; just the threads where widgetapi has none of its own."""
    try:
        from widgetapi.server import waitress_options as widgetapi_options
    except ImportError:
        return {"threads": threads, "ident": "widgetapi"}
    return widgetapi_options(threads)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    waitress.serve(create_app(), host=args.host, port=args.port,  # type: ignore[arg-type]
                   **waitress_options(args.threads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
