"""GET /api/v1/ui: Swagger UI from files installed with the package, no token needed."""
from __future__ import annotations

import re

import webtest


def test_the_page_loads_swagger_ui_from_the_server_pointed_at_the_spec(testapp: webtest.TestApp) -> None:
    page = testapp.get("/api/v1/ui", status=200)
    assert page.content_type == "text/html"
    assert '"url": "/api/v1/openapi.json"' in page.text
    assert '"validatorUrl": null' in page.text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "/api/v1/ui/swagger-ui-bundle.js" in sources
    assert all(source.startswith("/api/v1/ui/") for source in sources), sources  # nothing from a CDN


def test_every_file_the_page_loads_is_served_without_a_token(testapp: webtest.TestApp) -> None:
    page = testapp.get("/api/v1/ui", status=200)
    for source in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        asset = testapp.get(source, status=200)
        assert asset.body, source
    assert "SwaggerUIBundle" in testapp.get("/api/v1/ui/swagger-ui-bundle.js").text


def test_the_spec_and_health_need_no_token_but_the_api_does(testapp: webtest.TestApp) -> None:
    testapp.get("/api/v1/openapi.json", status=200)
    testapp.get("/api/v1/health", status=200)
    testapp.get("/api/v1/widgets", status=401)


def test_files_outside_the_assets_or_missing_are_404_json(testapp: webtest.TestApp) -> None:
    for path in ("/api/v1/ui/missing.js", "/api/v1/ui/../../../etc/passwd", "/api/v1/ui/%2e%2e/app.py"):
        response = testapp.get(path, status=404)
        assert response.json["status"] == "fail"


def test_the_spec_offers_the_bearer_scheme_for_the_authorize_button(testapp: webtest.TestApp) -> None:
    spec = testapp.get("/api/v1/openapi.json").json
    assert spec["components"]["securitySchemes"]["bearer"] == {
        **spec["components"]["securitySchemes"]["bearer"], "type": "http", "scheme": "bearer"}
    assert {"bearer": []} in spec["security"]
    assert spec["servers"] == [{"url": "/api/v1"}]


def test_the_page_escapes_the_root_path_it_echoes(testapp: webtest.TestApp) -> None:
    """SCRIPT_NAME comes from the server (a proxy's prefix, or gunicorn's SCRIPT_NAME
    header): whatever it holds stays text in the page."""
    hostile = '/x"><script>alert(1)</script><a href="'
    page = testapp.get("/api/v1/ui", extra_environ={"SCRIPT_NAME": hostile}, status=200).text
    assert "<script>alert(1)" not in page
    escaped = "/x&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;a href=&quot;"
    assert f'href="{escaped}/api/v1/ui/swagger-ui.css"' in page
    assert "\\u003cscript>alert(1)\\u003c/script>" in page  # in the script's JSON
    assert page.count("<script") == 2  # the bundle and the page's own
