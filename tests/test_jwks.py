"""GET /.well-known/jwks.json, and another service verifying widgetapi's tokens with it."""
from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path
from typing import Any

import falcon
import jwt
import pytest
import webtest
from conftest import PASSWORD, bearer, key_pair, register
from servers import request, threaded_server

from widgetapi.app import create_app
from widgetapi.config import Config
from widgetapi.keys import KeyRing

JWKS = "/.well-known/jwks.json"


def test_hs256_publishes_no_keys(testapp: webtest.TestApp, user_headers: dict[str, str]) -> None:
    for headers in ({}, user_headers):
        response = testapp.get(JWKS, headers=headers, status=404)
        assert response.json == {"status": "fail", "message": "Not Found"}
        assert "max-age" not in response.headers.get("Cache-Control", "")
    assert testapp.get(f"/api/v1{JWKS}", status=404).json["status"] == "fail"


@pytest.fixture
def eddsa_app(app: falcon.App, eddsa_config: Config) -> webtest.TestApp:
    """An EdDSA app on the test database (its tables made by `app`)."""
    return webtest.TestApp(create_app(eddsa_config))


def test_eddsa_publishes_its_public_key(eddsa_app: webtest.TestApp, eddsa_config: Config) -> None:
    response = eddsa_app.get(JWKS, status=200)  # no token needed
    assert response.content_type == "application/json"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    (jwk,) = response.json["keys"]
    assert set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
    token = register(eddsa_app, "alice@example.com")
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "typ": "JWT", "kid": jwk["kid"]}
    # the published key verifies the token
    key = jwt.PyJWK(jwk).key
    claims = jwt.decode(token, key, algorithms=["EdDSA"], audience="widgetapi", issuer="widgetapi")
    assert set(claims) == {"sub", "admin", "iat", "exp", "jti", "iss", "aud"}


def test_eddsa_tokens_work_through_the_api(eddsa_app: webtest.TestApp) -> None:
    token = register(eddsa_app, "alice@example.com")
    assert eddsa_app.get("/api/v1/auth/user", headers=bearer(token)).json["email"] == "alice@example.com"
    eddsa_app.get("/api/v1/widgets", headers=bearer(token), status=200)
    eddsa_app.post("/api/v1/auth/logout", headers=bearer(token), status=200)
    refused = eddsa_app.get("/api/v1/auth/user", headers=bearer(token), status=401)
    assert refused.json["message"] == "Token blacklisted. Please log in again."


def test_another_service_verifies_tokens_with_pyjwkclient_alone(app: falcon.App, eddsa_config: Config,
                                                                 tmp_path: Path) -> None:
    """"Another service" knows only the JWKS URL, the issuer and the audience: no secret, no
    widgetapi code. It is served by a real server, including a key that no longer signs."""
    _, old_public = key_pair(tmp_path, "old")
    config = dataclasses.replace(eddsa_config, token_issuer="https://widgets.example.com",
                                 token_audience="inventory", jwt_previous_public_key_files=(str(old_public),))
    with threaded_server(create_app(config)) as url:
        reply = request(url, "POST", "/api/v1/auth/register",
                        {"email": "alice@example.com", "password": PASSWORD})
        assert reply.status == 201, reply.body
        token = reply.body["access_token"]

        client = jwt.PyJWKClient(f"{url}{JWKS}")
        assert len(client.get_jwk_set().keys) == 2
        signing_key = client.get_signing_key_from_jwt(token)
        claims = jwt.decode(token, signing_key, algorithms=["EdDSA"],
                            issuer="https://widgets.example.com", audience="inventory")
        me = request(url, "GET", "/api/v1/auth/user", headers=bearer(token)).body
        assert claims["sub"] == me["public_id"] and uuid.UUID(claims["sub"])

        with pytest.raises(jwt.InvalidAudienceError):
            jwt.decode(token, signing_key, algorithms=["EdDSA"], issuer="https://widgets.example.com",
                       audience="billing")
        with pytest.raises(jwt.InvalidIssuerError):
            jwt.decode(token, signing_key, algorithms=["EdDSA"], issuer="https://evil.example.com",
                       audience="inventory")
        # someone else's Ed25519 key, under the published kid: the signature gives it away
        stranger, _ = key_pair(tmp_path, "stranger")
        forged = jwt.encode(claims, KeyRing.from_config(dataclasses.replace(
            config, jwt_private_key_file=str(stranger))).signing_key, algorithm="EdDSA",
            headers={"kid": signing_key.key_id})
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(forged, client.get_signing_key_from_jwt(forged), algorithms=["EdDSA"],
                       issuer="https://widgets.example.com", audience="inventory")


def test_the_public_keys_need_no_database(app: falcon.App, eddsa_config: Config) -> None:
    """Served from memory: other services can fetch keys while the database is away."""
    broken = dataclasses.replace(eddsa_config, database_url="postgresql://nobody@127.0.0.1:1/none")
    response = webtest.TestApp(create_app(broken)).get(JWKS, status=200)
    assert response.json["keys"][0]["kid"] == KeyRing.from_config(eddsa_config).kid


def test_the_readme_snippet_verifies_a_token(app: falcon.App, eddsa_config: Config) -> None:
    """The README's "how another service verifies widgetapi's tokens", run as written against
    a real server."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    snippets = [block.split("```", 1)[0] for block in readme.split("```python\n")[1:]]
    (snippet,) = [code for code in snippets if "PyJWKClient" in code]
    with threaded_server(create_app(eddsa_config)) as url:
        token = request(url, "POST", "/api/v1/auth/register",
                        {"email": "alice@example.com", "password": PASSWORD}).body["access_token"]
        namespace: dict[str, Any] = {}
        exec(snippet.replace("https://api.example.com", url), namespace)  # noqa: S102
        claims = namespace["verify"](token)
        assert claims["admin"] is False and claims["aud"] == "widgetapi"
        with pytest.raises(jwt.InvalidTokenError):
            namespace["verify"](token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))
