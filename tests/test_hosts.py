"""ALLOWED_HOSTS (widgetapi/hosts.py): the host names the API answers for; any other Host,
or a trusted proxy's X-Forwarded-Host, is `400 Unknown host`."""
from __future__ import annotations

from dataclasses import replace

import falcon
import pytest
import webtest

from widgetapi.app import create_app
from widgetapi.config import Config, ConfigError
from widgetapi.hosts import AllowedHosts

UNKNOWN_HOST = {"status": "fail", "message": "Unknown host"}
STRONG = "Fq7-wX2zLp9_Rt4mVb8kNc3hJs6yGd5e"  # strong enough for production


@pytest.mark.parametrize(("entries", "host", "allowed"), [
    ((), "anything.example:1234", True),  # none configured: any (development and testing)
    (("*",), "anything.example", True),
    (("api.example.com",), "api.example.com", True),
    (("api.example.com",), "API.Example.COM:8443", True),  # no port in the entry: any port
    (("api.example.com",), "api.example.com.", True),      # the root's dot
    (("api.example.com",), "example.com", False),
    (("api.example.com",), "api.example.com.attacker.example", False),
    (("api.example.com",), "evilapi.example.com", False),
    (("api.example.com:8443",), "api.example.com:8443", True),
    (("api.example.com:8443",), "api.example.com", False),
    (("api.example.com:8443",), "api.example.com:443", False),
    ((".example.com",), "example.com", True),
    ((".example.com",), "a.b.example.com:80", True),
    ((".example.com",), "badexample.com", False),
    (("127.0.0.1", "[::1]"), "127.0.0.1:8000", True),
    (("127.0.0.1", "[::1]"), "[::1]:8000", True),
    (("127.0.0.1", "[::1]"), "[::2]", False),
    (("127.0.0.1",), "", False),
])
def test_which_hosts_are_allowed(entries: tuple[str, ...], host: str, allowed: bool) -> None:
    assert AllowedHosts(entries).allows(host) is allowed


def test_another_host_is_400_unknown_host(config: Config, app: falcon.App) -> None:
    testapp = webtest.TestApp(create_app(replace(config, allowed_hosts=("api.example.com",))))
    for path in ("/api/v1", "/api/v1/widgets", "/api/v1/auth/login", "/nowhere"):
        refused = testapp.get(path, headers={"Host": "attacker.example"}, status=400)
        assert refused.json == UNKNOWN_HOST
        assert refused.content_type == "application/json"
        assert "X-Request-ID" in refused.headers
    index = testapp.get("/api/v1", headers={"Host": "api.example.com"}, status=200)
    assert index.json["links"]["ui"] == "http://api.example.com/api/v1/ui"


def test_a_trusted_proxys_forwarded_host_must_be_allowed_too(config: Config, app: falcon.App) -> None:
    testapp = webtest.TestApp(create_app(replace(config, allowed_hosts=("api.example.com",),
                                                 trusted_proxies=("10.0.0.1",))))
    headers = {"Host": "api.example.com", "X-Forwarded-Host": "attacker.example"}
    from_proxy = testapp.get("/api/v1", headers=headers, extra_environ={"REMOTE_ADDR": "10.0.0.1"},
                             status=400)
    assert from_proxy.json == UNKNOWN_HOST
    # from anyone else the header is not believed, so it cannot be refused either
    testapp.get("/api/v1", headers=headers, extra_environ={"REMOTE_ADDR": "192.0.2.7"}, status=200)


def test_development_and_testing_answer_any_host(testapp: webtest.TestApp) -> None:
    testapp.get("/api/v1", headers={"Host": "whatever.example:1234"}, status=200)


def test_the_index_is_not_for_shared_caches(testapp: webtest.TestApp) -> None:
    """Its links name the request's host: a cache must not hand them to another client."""
    index = testapp.get("/api/v1")
    assert index.headers["Cache-Control"] == "no-cache"
    assert {"Host", "X-Forwarded-Host", "X-Forwarded-Proto"} <= {
        name.strip() for name in index.headers["Vary"].split(",")}


def test_allowed_hosts_are_read_and_production_requires_them() -> None:
    production = {"WIDGETAPI_ENV": "production", "SECRET_KEY": STRONG}
    config = Config.from_env({**production, "ALLOWED_HOSTS": " API.example.com , .example.org,, [::1]:8000"})
    assert config.allowed_hosts == ("api.example.com", ".example.org", "[::1]:8000")
    with pytest.raises(ConfigError, match="ALLOWED_HOSTS must be set in production"):
        Config.from_env(production)
    assert Config.from_env({"WIDGETAPI_ENV": "development"}).allowed_hosts == ()


@pytest.mark.parametrize("value", ["https://api.example.com", "api.example.com/", "api example.com",
                                   "api.example.com:port", "*.example.com"])
def test_malformed_allowed_hosts_are_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="ALLOWED_HOSTS") as raised:
        Config.from_env({"ALLOWED_HOSTS": value})
    assert "\n" not in str(raised.value)
