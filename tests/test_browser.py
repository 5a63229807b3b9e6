"""Swagger UI in a real browser against a real server: a newcomer's first steps.

Starts `widgetapi serve` on a free port, opens the Swagger UI address it prints in headless
Chromium (Debian's `chromium`, driven by Playwright), registers, logs in, authorizes with
the token, creates a widget and lists widgets, all through "Try it out", and checks what
the page shows. The screenshot goes to test-artifacts/swagger-ui.png.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import environment, server_process, widgetapi_serve

playwright = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@example.com", "browser tests 4 widgets"
TIMEOUT_MS = 15_000

pytestmark = pytest.mark.slow


def chromium_path() -> str:
    found = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"CI needs Chromium at {CHROMIUM}: apt-get install -y chromium (.ci/run does)")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium); CI=true makes this a failure")


@pytest.fixture
def swagger_ui_url(tmp_path: Path) -> Iterator[str]:
    """The Swagger UI address printed by a running `widgetapi serve`, with an administrator."""
    env = {"WIDGETAPI_ENV": "development", "DATABASE_URL": f"sqlite:///{tmp_path / 'ui.db'}",
           "WIDGETAPI_ADMIN_PASSWORD": ADMIN_PASSWORD}
    unset = {"CORS_ALLOW_ORIGINS"}
    admin = subprocess.run([sys.executable, "-m", "widgetapi.cli", "create-admin", ADMIN_EMAIL],
                           env=environment(env, unset), cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=30)
    assert admin.returncode == 0, admin.stdout
    with server_process(widgetapi_serve, env, tmp_path, cwd=ROOT, unset=unset) as server:
        printed = server.output().splitlines()[:3]
        label = "Swagger UI:"
        url = next((line.removeprefix(label).strip() for line in printed if line.startswith(label)), None)
        assert url, f"the server did not print a Swagger UI address: {printed}"
        yield url


def try_it_out(page, operation_id: str, body: dict | None = None) -> tuple[str, dict]:
    """Open an operation, press "Try it out", put `body` in the editor, execute;
    return the status and JSON body the page shows."""
    block = page.locator(f"[id$='-{operation_id}']").first
    block.locator(".opblock-summary").first.click()
    block.get_by_role("button", name="Try it out").click()
    if body is not None:
        block.locator("textarea.body-param__text").fill(json.dumps(body))
    block.get_by_role("button", name="Execute").click()
    response = block.locator(".live-responses-table .response").first
    response.wait_for(timeout=TIMEOUT_MS)
    status = response.locator(".response-col_status").inner_text().strip()
    shown = response.locator(".response-col_description pre").first.inner_text()
    return status, json.loads(shown)


def authorize(page, token: str) -> None:
    """The Authorize button: the token goes in the `bearer` scheme's form."""
    page.locator(".auth-wrapper button.authorize").click()
    bearer = page.locator(".modal-ux .auth-container").filter(has_text="bearer").first
    bearer.locator("input").first.fill(token)
    bearer.locator("button.modal-btn.authorize").click()
    bearer.get_by_text("Authorized").wait_for()
    page.locator(".modal-ux button.btn-done").first.click()


def test_a_newcomer_registers_authorizes_creates_and_lists_widgets(swagger_ui_url: str) -> None:
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            requested: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            page.goto(swagger_ui_url)
            page.get_by_text("widgetapi", exact=False).first.wait_for()
            assert page.locator(".swagger-ui .info .title").inner_text().startswith("widgetapi")

            status, body = try_it_out(page, "register", {"email": "newcomer@example.com",
                                                         "password": "a long password"})
            assert (status, body["message"]) == ("201", "successfully registered")

            status, body = try_it_out(page, "login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
            assert (status, body["message"]) == ("200", "successfully logged in")
            authorize(page, body["access_token"])

            widget = {"name": "browser-widget", "info_url": "https://example.com/browser",
                      "deadline": "2999-12-31"}
            status, body = try_it_out(page, "createWidget", widget)
            assert (status, body["message"]) == ("201", "New widget added: browser-widget.")

            status, body = try_it_out(page, "listWidgets")
            assert status == "200"
            assert [item["name"] for item in body["items"]] == ["browser-widget"]
            assert body["items"][0]["owner"]["email"] == ADMIN_EMAIL
            assert body["items"][0]["deadline"] == "2999-12-31T23:59:59Z"
            # The request went where the spec's `servers` entry says, with the token.
            request_url = page.locator("[id$='-listWidgets'] .request-url pre").inner_text()
            assert request_url.startswith(swagger_ui_url.removesuffix("/ui") + "/widgets")
            # Everything came from the server itself: no CDN, works offline.
            origin = swagger_ui_url.split("/api/")[0]
            assert [url for url in requested if not url.startswith(origin)] == []
            assert f"{origin}/api/v1/ui/swagger-ui-bundle.js" in requested
        finally:
            save_screenshot(browser)
            browser.close()


def save_screenshot(browser) -> None:
    """What the page shows last (on success: the widget list's response), for people to look at."""
    pages = [page for context in browser.contexts for page in context.pages]
    if not pages:
        return
    ARTIFACTS.mkdir(exist_ok=True)
    listed = pages[0].locator("[id$='-listWidgets'] .live-responses-table")
    if listed.count():
        listed.first.scroll_into_view_if_needed()
    pages[0].screenshot(path=ARTIFACTS / "swagger-ui.png")
