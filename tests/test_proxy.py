"""The README's production setup as deployed: each server (`widgetapi serve`, `waitress-serve`
and gunicorn, as the README starts them) behind a real nginx running the README's own snippet,
with clients on distinct loopback addresses (127.0.0.2, 127.0.0.3, ...: nginx sees each as a
client of its own, as it would see hosts on the internet, and cannot be told otherwise)."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import falcon
import pytest
from conftest import PASSWORD, SECRET_KEY, TOKEN_SECONDS
from nginx import HOST_NAME, call, nginx
from servers import (
    STARTUP_SECONDS,
    Reply,
    environment,
    free_port,
    gunicorn,
    server_process,
    stop,
    waitress_serve,
    widgetapi_serve,
)

from widgetapi import operations
from widgetapi.body import TOO_LARGE
from widgetapi.config import Config

pytestmark = pytest.mark.slow

ATTACKER, VICTIM, ADMIN, BYSTANDER = "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"
MAX_FAILURES, RATE = 3, 10
LOGIN, REGISTER = "/api/v1/auth/login", "/api/v1/auth/register"
ALICE = "alice@example.com"
UNKNOWN_HOST = {"status": "fail", "message": "Unknown host"}

SERVERS: dict[str, Callable[[int], list[str]]] = {"widgetapi serve": widgetapi_serve,
                                                  "waitress-serve": waitress_serve}
if sys.platform != "win32":
    SERVERS["gunicorn"] = gunicorn


@dataclass
class Deployment:
    backend_port: int
    port: int  # nginx's, HTTPS

    @property
    def public_host(self) -> str:
        """The Host a client of the deployment sends: the API's name, on nginx's port."""
        return f"{HOST_NAME}:{self.port}"

    def via_nginx(self, method: str, path: str, source: str, body: dict[str, Any] | None = None,
                  headers: dict[str, str] | None = None, host: str | None = None) -> Reply:
        return call(self.port, method, path, source=source, host=host or self.public_host, https=True,
                    body=body, headers=headers)

    def direct(self, method: str, path: str, source: str, body: dict[str, Any] | None = None,
               headers: dict[str, str] | None = None) -> Reply:
        return call(self.backend_port, method, path, source=source, body=body, headers=headers)


UNSET = ("CORS_ALLOW_ORIGINS", "METRICS_ENABLED", "PROMETHEUS_MULTIPROC_DIR", "FORWARDED_ALLOW_IPS",
         "GUNICORN_CMD_ARGS", "PASSWORD_HASH_CONCURRENCY", "JWT_ALGORITHM")


def deployed_env(config: Config) -> dict[str, str]:
    """The settings the README gives a server behind nginx on the same machine, and limits
    a test can reach."""
    return {"WIDGETAPI_ENV": "testing", "DATABASE_URL": config.database_url, "SECRET_KEY": SECRET_KEY,
            "TOKEN_EXPIRE_SECONDS": str(TOKEN_SECONDS), "DATABASE_POOL_SIZE": "5",
            "TRUSTED_PROXIES": "127.0.0.1", "ALLOWED_HOSTS": f"{HOST_NAME},127.0.0.1",
            "LOGIN_MAX_FAILURES": str(MAX_FAILURES), "AUTH_RATE_PER_MINUTE": str(RATE)}


@pytest.fixture(params=list(SERVERS))
def deployment(request: pytest.FixtureRequest, app: falcon.App, config: Config,
               tmp_path: Path) -> Iterator[Deployment]:
    """A server started as the README says, behind nginx configured as the README says, on
    the test database (its tables made by `app`), with an administrator."""
    operations.create_admin(config, "admin@example.com", lambda: PASSWORD)
    with server_process(SERVERS[request.param], deployed_env(config), tmp_path, unset=UNSET) as server, \
            nginx(server.url.removeprefix("http://"), tmp_path / "nginx") as port:
        yield Deployment(int(server.url.rsplit(":", 1)[1]), port)


def credentials(email: str, password: str = PASSWORD) -> dict[str, str]:
    return {"email": email, "password": password}


def bearer(reply: Reply) -> dict[str, str]:
    assert reply.status in (200, 201), reply.body
    return {"Authorization": f"Bearer {reply.body['access_token']}"}


def assert_too_many(reply: Reply) -> None:
    assert reply.status == 429, reply.body
    seconds = reply.headers["retry-after"]
    assert reply.body == {"status": "fail", "message": f"Too many attempts. Try again in {seconds} seconds."}


def test_throttling_and_sessions_see_each_real_client(deployment: Deployment) -> None:
    via = deployment.via_nginx
    assert via("POST", REGISTER, VICTIM, credentials(ALICE)).status == 201

    # The attacker guesses Alice's password, claiming to be her in X-Forwarded-For: nginx
    # appends the attacker's own address, and that is the client widgetapi counts.
    claims_to_be_alice = {"X-Forwarded-For": VICTIM}
    for _ in range(MAX_FAILURES):
        guess = via("POST", LOGIN, ATTACKER, credentials(ALICE, "wrong password"), claims_to_be_alice)
        assert guess.status == 401, guess.body
    assert_too_many(via("POST", LOGIN, ATTACKER, credentials(ALICE), claims_to_be_alice))

    # Alice, from her own address, is not locked out; her session records that address.
    headers = bearer(via("POST", LOGIN, VICTIM, credentials(ALICE)))
    sessions = via("GET", "/api/v1/auth/sessions", VICTIM, headers=headers)
    assert sessions.status == 200, sessions.body
    assert {item["address"] for item in sessions.body["items"]} == {VICTIM}

    # The attacker's junk logins use up the attacker's AUTH_RATE_PER_MINUTE (counted per
    # minute: within at most two minutes' worth it must be refused) ...
    for number in range(2 * RATE + 2):
        reply = via("POST", LOGIN, ATTACKER, credentials(f"junk{number}@example.com", "wrong password"))
        if reply.status == 429:
            break
        assert reply.status == 401, reply.body
    assert_too_many(reply)
    # ... and nobody else's.
    assert via("POST", LOGIN, VICTIM, credentials(ALICE)).status == 200
    assert via("POST", REGISTER, BYSTANDER, credentials("bob@example.com")).status == 201


def test_urls_and_hosts_follow_the_proxy_and_only_a_trusted_one(deployment: Deployment) -> None:
    via, public = deployment.via_nginx, deployment.public_host
    # What a client sends as X-Forwarded-* is replaced by nginx's own (the README's snippet).
    made_up = {"X-Forwarded-Proto": "http", "X-Forwarded-Host": "evil.example"}
    index = via("GET", "/api/v1", ATTACKER, headers=made_up)
    assert index.status == 200, index.body
    assert index.body["links"]["openapi"] == f"https://{public}/api/v1/openapi.json"
    assert index.headers["cache-control"] == "no-cache"

    admin = bearer(via("POST", LOGIN, ADMIN, credentials("admin@example.com")))
    widget = {"name": "proxied", "info_url": "https://example.com", "deadline": "2099-12-31"}
    created = via("POST", "/api/v1/widgets", ADMIN, widget, admin)
    assert created.status == 201, created.body
    assert created.headers["location"] == f"https://{public}/api/v1/widgets/proxied"
    page = via("GET", "/api/v1/widgets?per_page=5", ADMIN, headers=admin)
    assert page.body["links"]["self"] == f"https://{public}/api/v1/widgets?page=1&per_page=5"
    assert f"<https://{public}/api/v1/widgets?page=1&per_page=5>" in page.headers["link"]
    assert page.body["items"][0]["link"] == f"https://{public}/api/v1/widgets/proxied"
    book = via("POST", "/api/v1/books", ADMIN, {"name": "Dune", "author": "Frank Herbert",
                                                 "publisher": "Chilton", "price": "12.50"}, admin)
    assert book.status == 201, book.body
    assert book.headers["location"] == book.body["link"] == f"https://{public}/api/v1/books/{book.body['id']}"

    # A host that is not in ALLOWED_HOSTS, through nginx: refused in the API's error shape.
    refused = via("GET", "/api/v1", ATTACKER, host="evil.example")
    assert (refused.status, refused.body) == (400, UNKNOWN_HOST)
    assert refused.headers["content-type"].startswith("application/json")

    # Straight to the server from a peer that is not a trusted proxy: its X-Forwarded-*
    # count for nothing, for URLs, for throttling and for sessions.
    forged = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": public, "X-Forwarded-For": "198.51.100.7"}
    direct = deployment.direct("GET", "/api/v1", ATTACKER, headers=forged)
    assert direct.body["links"]["openapi"] == f"http://127.0.0.1:{deployment.backend_port}/api/v1/openapi.json"
    token = bearer(deployment.direct("POST", LOGIN, ATTACKER, credentials("admin@example.com"), forged))
    sessions = deployment.direct("GET", "/api/v1/auth/sessions", ATTACKER, headers=token)
    assert [item["address"] for item in sessions.body["items"] if item["current"]] == [ATTACKER]

    # From the trusted proxy's address, a forwarded host must be an allowed one too.
    assert deployment.direct("GET", "/api/v1", "127.0.0.1", headers={"X-Forwarded-Host": "evil.example"}
                             ).body == UNKNOWN_HOST


@pytest.mark.parametrize("server", list(SERVERS))
def test_without_trusted_proxies_no_server_believes_forwarded_headers(
        app: falcon.App, config: Config, tmp_path: Path, server: str) -> None:
    """Straight from a client on 127.0.0.1, without TRUSTED_PROXIES: no server makes up a
    scheme, host or address from its headers (gunicorn would by default: it trusts
    127.0.0.1; widgetapi.gunicorn_conf makes it follow TRUSTED_PROXIES)."""
    env = {"WIDGETAPI_ENV": "testing", "DATABASE_URL": config.database_url, "SECRET_KEY": SECRET_KEY,
           "TOKEN_EXPIRE_SECONDS": str(TOKEN_SECONDS), "DATABASE_POOL_SIZE": "5"}
    unset = ("TRUSTED_PROXIES", "ALLOWED_HOSTS", "FORWARDED_ALLOW_IPS", "GUNICORN_CMD_ARGS")
    forged = {"X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "on", "X-Forwarded-Protocol": "ssl",
              "X-Forwarded-Host": HOST_NAME, "X-Forwarded-For": "198.51.100.7"}
    with server_process(SERVERS[server], env, tmp_path, unset=unset) as process:
        port = int(process.url.rsplit(":", 1)[1])
        index = call(port, "GET", "/api/v1", headers=forged)
        assert index.body["links"]["openapi"] == f"http://127.0.0.1:{port}/api/v1/openapi.json"
        token = bearer(call(port, "POST", REGISTER, body=credentials(ALICE), headers=forged))
        sessions = call(port, "GET", "/api/v1/auth/sessions", headers=token)
        assert [item["address"] for item in sessions.body["items"]] == ["127.0.0.1"]


def test_the_servers_here_are_started_as_the_readme_says() -> None:
    """The commands above are the README's (step 5), flags that make the proxy work included."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    step = readme.split("### 5. Run several processes", 1)[1].split("\n### ", 1)[0]
    lines = [" ".join(line.lstrip("# ").split()) for line in step.splitlines()]
    gunicorn_line = next(line for line in lines if line.startswith("gunicorn "))
    waitress_line = next(line for line in lines if line.startswith("or: waitress-serve "))
    assert gunicorn_line.startswith("gunicorn -c python:widgetapi.gunicorn_conf ")
    assert gunicorn_line.endswith(" widgetapi.wsgi:app")
    assert " --no-clear-untrusted-proxy-headers widgetapi.wsgi:app" in waitress_line
    for command, readme_line in ((gunicorn(8000), gunicorn_line), (waitress_serve(8000), waitress_line)):
        options = {part.split("=")[0] for part in command if part.startswith("-") and part != "-m"}
        assert options <= {part.split("=")[0] for part in readme_line.split()}, (command, readme_line)


def test_nginx_answers_its_own_errors_in_the_apis_shape(deployment: Deployment) -> None:
    """What nginx refuses itself (the README's snippet) is JSON like the API's own errors."""
    too_large = deployment.via_nginx("POST", REGISTER, ATTACKER, {"email": "x" * (70 * 1024)})
    assert (too_large.status, too_large.body) == (413, {"status": "fail", "message": TOO_LARGE})
    assert too_large.headers["content-type"] == "application/json"
    # the API's own errors pass through untouched
    missing = deployment.via_nginx("GET", "/api/v1/widgets", ATTACKER)
    assert (missing.status, missing.body) == (401, {"status": "fail", "message": "Unauthorized"})


def test_nginx_without_a_server_says_service_unavailable_in_json(tmp_path: Path) -> None:
    with nginx(f"127.0.0.1:{free_port()}", tmp_path / "nginx") as port:  # nothing listens there
        reply = call(port, "GET", "/api/v1/health", source=ATTACKER, host=f"{HOST_NAME}:{port}", https=True)
    assert (reply.status, reply.body) == (503, {"status": "error", "message": "Service unavailable"})
    assert reply.headers["content-type"] == "application/json" and reply.headers["retry-after"] == "5"


UNIX_SOCKET_SERVERS: dict[str, Callable[[Path], list[str]]] = {
    "waitress-serve": lambda socket: [sys.executable, "-m", "waitress", "--threads=4",
                                      f"--unix-socket={socket}", "--no-clear-untrusted-proxy-headers",
                                      "widgetapi.wsgi:app"],
}
if sys.platform != "win32":
    UNIX_SOCKET_SERVERS["gunicorn"] = lambda socket: [
        sys.executable, "-m", "gunicorn", "-c", "python:widgetapi.gunicorn_conf", "--workers", "2",
        "--threads", "4", "--bind", f"unix:{socket}", "widgetapi.wsgi:app"]


@pytest.mark.parametrize("server", list(UNIX_SOCKET_SERVERS))
def test_behind_nginx_on_a_unix_socket(app: falcon.App, config: Config, tmp_path: Path, server: str) -> None:
    """The README's unix-socket setup: no peer address (widgetapi counts it as 127.0.0.1),
    TRUSTED_PROXIES=127.0.0.1, and every client is still itself."""
    socket_directory = Path(tempfile.mkdtemp(prefix="widgetapi-"))  # a socket's path is short
    socket = socket_directory / "widgetapi.sock"
    log = (tmp_path / "server.log").open("w")
    command, env = UNIX_SOCKET_SERVERS[server](socket), environment(deployed_env(config), UNSET)
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        with nginx(f"unix:{socket}", tmp_path / "nginx") as port:
            deployment = Deployment(0, port)
            deadline = time.monotonic() + STARTUP_SECONDS
            while deployment.via_nginx("GET", "/api/v1/health", BYSTANDER).status != 200:
                output = (tmp_path / "server.log").read_text()
                assert process.poll() is None and time.monotonic() < deadline, output
                time.sleep(0.2)
            token = bearer(deployment.via_nginx("POST", REGISTER, VICTIM, credentials(ALICE)))
            sessions = deployment.via_nginx("GET", "/api/v1/auth/sessions", VICTIM, headers=token)
            assert [item["address"] for item in sessions.body["items"]] == [VICTIM]
            for _ in range(MAX_FAILURES):
                guess = deployment.via_nginx("POST", LOGIN, ATTACKER, credentials(ALICE, "wrong password"))
                assert guess.status == 401, guess.body
            assert_too_many(deployment.via_nginx("POST", LOGIN, ATTACKER, credentials(ALICE)))
            assert deployment.via_nginx("POST", LOGIN, VICTIM, credentials(ALICE)).status == 200
            index = deployment.via_nginx("GET", "/api/v1", VICTIM)
            assert index.body["links"]["ui"] == f"https://{deployment.public_host}/api/v1/ui"
    finally:
        stop(process)
        log.close()
        shutil.rmtree(socket_directory, ignore_errors=True)
