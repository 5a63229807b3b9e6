"""The client's address, scheme and host (widgetapi/clients.py): X-Forwarded-* believed
only from TRUSTED_PROXIES, for throttling and for absolute URLs."""
from __future__ import annotations

from dataclasses import replace

import falcon
import pytest
import webtest
from conftest import PASSWORD, bearer, login
from widget_helpers import widget_body

from widgetapi import operations
from widgetapi.app import create_app
from widgetapi.clients import Client
from widgetapi.config import Config, ConfigError

PROXY = "10.0.0.5"
FORWARDED = {"X-Forwarded-For": "192.0.2.1, 198.51.100.23", "X-Forwarded-Proto": "https",
             "X-Forwarded-Host": "api.example.com"}


class Echo:
    """What the middleware decided, for the tests."""

    auth_required = False

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        client: Client = req.context.client
        resp.media = {"address": client.address, "prefix": client.url_prefix}


@pytest.fixture
def behind_proxy(app: falcon.App, config: Config) -> tuple[falcon.App, webtest.TestApp]:
    proxied = create_app(replace(config, trusted_proxies=("10.0.0.0/24", "2001:db8::/32")))
    proxied.add_route("/test/client", Echo())
    return proxied, webtest.TestApp(proxied)


def client_seen(testapp: webtest.TestApp, peer: str, headers: dict[str, str]) -> dict[str, str]:
    return testapp.get("/test/client", headers=headers, extra_environ={"REMOTE_ADDR": peer}).json


def test_forwarded_headers_count_only_from_a_trusted_proxy(behind_proxy) -> None:
    _, testapp = behind_proxy
    assert client_seen(testapp, PROXY, FORWARDED) == {
        "address": "198.51.100.23", "prefix": "https://api.example.com"}
    assert client_seen(testapp, "203.0.113.9", FORWARDED) == {
        "address": "203.0.113.9", "prefix": "http://localhost:80"}


def test_without_trusted_proxies_nothing_forwarded_counts(app: falcon.App) -> None:
    app.add_route("/test/client", Echo())
    assert client_seen(webtest.TestApp(app), PROXY, FORWARDED) == {
        "address": PROXY, "prefix": "http://localhost:80"}


@pytest.mark.parametrize(("forwarded_for", "client"), [
    ("192.0.2.1", "192.0.2.1"),
    ("192.0.2.1, 10.0.0.7", "192.0.2.1"),          # a second trusted proxy is skipped
    ("1.2.3.4, 192.0.2.1, 10.0.0.7", "192.0.2.1"),  # what the client wrote itself is not believed
    ("192.0.2.1:4711", "192.0.2.1"),
    ("[2001:db9::1]:443", "2001:db9::1"),
    ("10.0.0.8, 10.0.0.7", "10.0.0.8"),             # proxies all the way: the left-most
    ("not-an-address, 10.0.0.7", "10.0.0.7"),
    ("", PROXY),
])
def test_the_right_most_untrusted_address_is_the_client(behind_proxy, forwarded_for: str,
                                                         client: str) -> None:
    _, testapp = behind_proxy
    assert client_seen(testapp, PROXY, {"X-Forwarded-For": forwarded_for})["address"] == client


def test_made_up_schemes_and_hosts_are_ignored(behind_proxy) -> None:
    _, testapp = behind_proxy
    made_up = {"X-Forwarded-Proto": "javascript", "X-Forwarded-Host": "evil.com/<x>"}
    seen = client_seen(testapp, PROXY, made_up)
    assert seen["prefix"] == "http://localhost:80"


def test_absolute_urls_use_the_forwarded_scheme_and_host(behind_proxy, config: Config) -> None:
    _, testapp = behind_proxy
    operations.create_admin(config, "admin@example.com", lambda: PASSWORD)
    headers = {**bearer(login(testapp, "admin@example.com")), **FORWARDED}
    environ = {"REMOTE_ADDR": PROXY}
    created = testapp.post_json("/api/v1/widgets", widget_body("proxied"), headers=headers,
                                extra_environ=environ, status=201)
    assert created.headers["Location"] == "https://api.example.com/api/v1/widgets/proxied"
    widget = testapp.get("/api/v1/widgets/proxied", headers=headers, extra_environ=environ).json
    assert widget["link"] == "https://api.example.com/api/v1/widgets/proxied"
    page = testapp.get("/api/v1/widgets", headers=headers, extra_environ=environ)
    assert page.json["links"]["self"] == "https://api.example.com/api/v1/widgets?page=1&per_page=10"
    assert "<https://api.example.com/api/v1/widgets?page=1&per_page=10>" in page.headers["Link"]
    # the same request from an untrusted peer keeps its own scheme and host
    untrusted = testapp.get("/api/v1/widgets/proxied", headers=headers,
                            extra_environ={"REMOTE_ADDR": "192.0.2.1"})
    assert untrusted.json["link"] == "http://localhost:80/api/v1/widgets/proxied"


def test_throttling_counts_the_forwarded_client(app: falcon.App, config: Config) -> None:
    strict = webtest.TestApp(create_app(replace(config, trusted_proxies=(PROXY,), login_max_failures=2)))
    body = {"email": "alice@example.com", "password": "wrong password"}
    for _ in range(2):
        strict.post_json("/api/v1/auth/login", body, headers={"X-Forwarded-For": "192.0.2.1"},
                         extra_environ={"REMOTE_ADDR": PROXY}, status=401)
    strict.post_json("/api/v1/auth/login", body, headers={"X-Forwarded-For": "192.0.2.1"},
                     extra_environ={"REMOTE_ADDR": PROXY}, status=429)
    # another client behind the same proxy is not locked out
    strict.post_json("/api/v1/auth/login", body, headers={"X-Forwarded-For": "192.0.2.2"},
                     extra_environ={"REMOTE_ADDR": PROXY}, status=401)


def test_trusted_proxies_must_be_addresses_or_ranges() -> None:
    assert Config.from_env({"TRUSTED_PROXIES": "10.0.0.1, 172.16.0.0/12,::1"}).trusted_proxies == (
        "10.0.0.1", "172.16.0.0/12", "::1")
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
        Config.from_env({"TRUSTED_PROXIES": "10.0.0.1,proxy.example.com"})



@pytest.mark.parametrize("peer", ["", "localhost"])
def test_a_unix_socket_peer_is_127_0_0_1(app: falcon.App, config: Config, peer: str) -> None:
    """gunicorn gives a unix socket's peer as '' and waitress as 'localhost': both are this
    machine, so TRUSTED_PROXIES=127.0.0.1 trusts the proxy on the other end of the socket."""
    app.add_route("/test/client", Echo())
    assert client_seen(webtest.TestApp(app), peer, FORWARDED)["address"] == "127.0.0.1"
    proxied = create_app(replace(config, trusted_proxies=("127.0.0.1",)))
    proxied.add_route("/test/client", Echo())
    assert client_seen(webtest.TestApp(proxied), peer, FORWARDED) == {
        "address": "198.51.100.23", "prefix": "https://api.example.com"}
