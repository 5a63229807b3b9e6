"""Swagger UI at /api/v1/ui: a page of our own, pointed at the spec, and the Swagger UI
files that the swagger-ui-py package installs, so it works offline (no CDN)."""
from __future__ import annotations

import html
import importlib.util
import json
from pathlib import Path

import falcon

ASSETS_PACKAGE = "swagger_ui"

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>widgetapi - Swagger UI</title>
  <link rel="stylesheet" href="{assets}/swagger-ui.css">
  <link rel="icon" type="image/png" href="{assets}/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{assets}/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({options});
  </script>
</body>
</html>
"""


def assets_directory() -> Path:
    """The directory of Swagger UI's distribution files in the installed swagger-ui-py
    package, found without importing it (its import pulls in its framework glue)."""
    spec = importlib.util.find_spec(ASSETS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


class SwaggerUI:
    """The page; the files it loads come from a static route at `<page>/`."""

    auth_required = False

    def __init__(self, page_path: str, spec_path: str) -> None:
        self._page_path = page_path
        self._spec_path = spec_path

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        options = {
            "url": req.root_path + self._spec_path,
            "dom_id": "#swagger-ui",
            "deepLinking": True,
            # No call to the public online validator: the page must work offline.
            "validatorUrl": None,
            "displayRequestDuration": True,
        }
        # JSON is valid JavaScript; escaping "<" keeps "</script>" out of the inline script.
        script_options = json.dumps(options).replace("<", "\\u003c")
        # The root path is the server's SCRIPT_NAME, which a proxy or a header may set: it
        # goes into attributes escaped.
        assets = html.escape(req.root_path + self._page_path, quote=True)
        resp.content_type = falcon.MEDIA_HTML
        resp.text = PAGE.format(assets=assets, options=script_options)
