"""CORS: only the configured origins, preflights without a token, the API's headers exposed."""
from __future__ import annotations

import dataclasses

import pytest
import webtest

from widgetapi.app import create_app
from widgetapi.config import Config

FRONT_END = "https://front.example.com"


@pytest.fixture
def config(config: Config) -> Config:
    return dataclasses.replace(config, cors_allow_origins=(FRONT_END, "http://localhost:3000"))


def preflight(testapp: webtest.TestApp, origin: str, method: str = "POST") -> webtest.TestResponse:
    return testapp.options("/api/v1/widgets", status="*", headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type"})


def test_a_preflight_from_an_allowed_origin_is_allowed_without_a_token(testapp: webtest.TestApp) -> None:
    response = preflight(testapp, FRONT_END)
    assert response.status_int == 200
    assert response.headers["Access-Control-Allow-Origin"] == FRONT_END
    assert set(response.headers["Access-Control-Allow-Methods"].split(", ")) == {"GET", "HEAD", "POST"}
    assert response.headers["Access-Control-Allow-Headers"] == "authorization, content-type"
    assert "Origin" in response.headers["Vary"]


def test_a_preflight_allows_the_conditional_request_headers(testapp: webtest.TestApp) -> None:
    response = testapp.options("/api/v1/books/5b0bd4f3-8f0a-4f57-9d37-7fe1d7b1e1a2", status=200, headers={
        "Origin": FRONT_END, "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "authorization, content-type, if-match, if-none-match"})
    assert response.headers["Access-Control-Allow-Origin"] == FRONT_END
    allowed = {h.strip() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"if-match", "if-none-match"} <= allowed
    assert "PATCH" in response.headers["Access-Control-Allow-Methods"]


def test_a_preflight_from_another_origin_gets_no_cors_headers(testapp: webtest.TestApp) -> None:
    response = preflight(testapp, "https://evil.example.com")
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Methods" not in response.headers


def test_responses_to_an_allowed_origin_expose_the_api_headers(testapp: webtest.TestApp,
                                                               user_headers: dict[str, str]) -> None:
    response = testapp.get("/api/v1/widgets", headers={**user_headers, "Origin": FRONT_END}, status=200)
    assert response.headers["Access-Control-Allow-Origin"] == FRONT_END
    exposed = {h.strip() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert exposed == {"Location", "Link", "Total-Count", "WWW-Authenticate", "X-Request-ID", "ETag"}
    assert "Access-Control-Allow-Credentials" not in response.headers  # bearer tokens, not cookies


def test_errors_reach_an_allowed_origin_too(testapp: webtest.TestApp) -> None:
    response = testapp.get("/api/v1/widgets", headers={"Origin": FRONT_END}, status=401)
    assert response.headers["Access-Control-Allow-Origin"] == FRONT_END


def test_requests_from_another_origin_get_no_cors_headers(testapp: webtest.TestApp,
                                                          user_headers: dict[str, str]) -> None:
    response = testapp.get("/api/v1/widgets", headers={**user_headers, "Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_no_origin_is_allowed_by_default(config: Config) -> None:
    testapp = webtest.TestApp(create_app(dataclasses.replace(config, cors_allow_origins=())))
    response = preflight(testapp, FRONT_END)
    assert "Access-Control-Allow-Origin" not in response.headers


def test_the_origins_come_from_the_environment() -> None:
    config = Config.from_env({"CORS_ALLOW_ORIGINS": " https://a.example, http://localhost:3000 ,"})
    assert config.cors_allow_origins == ("https://a.example", "http://localhost:3000")
    assert Config.from_env({}).cors_allow_origins == ()
