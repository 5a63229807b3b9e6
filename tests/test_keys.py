"""widgetapi.keys: key ids, key files, the key ring; rotation across restarts; `widgetapi
gen-key` and `widgetapi serve` refusing unusable keys, as real processes."""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import stat
import subprocess
import sys
from contextlib import AbstractContextManager
from pathlib import Path

import falcon
import jwt
import pytest
import webtest
from conftest import PASSWORD, SECRET_KEY, bearer, key_pair, login, register
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from servers import ServerProcess, environment, free_port, request, server_process, widgetapi_serve

from widgetapi.app import create_app
from widgetapi.config import Config, ConfigError
from widgetapi.keys import KeyRing, hmac_kid, jwk_thumbprint, public_jwk

USER = "/api/v1/auth/user"
INVALID = "Invalid token. Please log in again."
KEY_A = "first-secret-key-that-is-long-enough-0123456789"
KEY_B = "second-secret-key-that-is-long-enough-9876543210"
# Every setting these tests choose, so that the caller's environment cannot leak in.
OWN_VARIABLES = ("WIDGETAPI_ENV", "DATABASE_URL", "SECRET_KEY", "SECRET_KEY_PREVIOUS", "JWT_ALGORITHM",
                 "JWT_PRIVATE_KEY_FILE", "JWT_PREVIOUS_PUBLIC_KEY_FILES", "TOKEN_ISSUER", "TOKEN_AUDIENCE",
                 "TOKEN_EXPIRE_SECONDS", "BCRYPT_LOG_ROUNDS")
TIMEOUT = 60


def widgetapi_command() -> str:
    """The installed `widgetapi` console script, next to this Python."""
    return str(Path(sys.executable).parent / "widgetapi")


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=environment(env, OWN_VARIABLES), cwd=cwd, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=TIMEOUT)


# Key ids


def test_the_kid_of_an_ed25519_key_is_its_rfc7638_thumbprint() -> None:
    """The example key of RFC 8037 (appendix A.2) and its thumbprint (A.3)."""
    x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    thumbprint = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    assert jwk_thumbprint({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "ignored"}) == thumbprint
    key = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(x + "="))
    assert public_jwk(key) == {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": thumbprint,
                               "alg": "EdDSA", "use": "sig"}


def test_hmac_kids_name_the_secret_without_showing_it() -> None:
    kid = hmac_kid(KEY_A)
    assert kid == hmac_kid(KEY_A) != hmac_kid(KEY_B)
    assert len(kid) == 16 and KEY_A not in kid
    # not a plain hash of the secret, which a table of hashes of common strings could match
    plain = base64.urlsafe_b64encode(hashlib.sha256(KEY_A.encode()).digest()).decode()
    assert kid not in plain


def test_kids_are_the_same_in_another_process(tmp_path: Path) -> None:
    private_key, _ = key_pair(tmp_path)
    script = ("import json, sys; from widgetapi.config import Config; from widgetapi.keys import KeyRing; "
              "print(json.dumps([KeyRing.from_config(Config(secret_key=sys.argv[1])).kid, "
              "KeyRing.from_config(Config(jwt_algorithm='EdDSA', jwt_private_key_file=sys.argv[2])).kid]))")
    result = subprocess.run([sys.executable, "-c", script, KEY_A, str(private_key)], capture_output=True,
                            text=True, timeout=TIMEOUT, check=True)
    here = [KeyRing.from_config(Config(secret_key=KEY_A)).kid,
            KeyRing.from_config(Config(jwt_algorithm="EdDSA", jwt_private_key_file=str(private_key))).kid]
    assert json.loads(result.stdout) == here


# The key ring


def test_hs256_ring_signs_with_the_current_key_and_verifies_with_all() -> None:
    ring = KeyRing.from_config(Config(secret_key=KEY_B, secret_key_previous=(KEY_A,)))
    assert (ring.algorithm, ring.kid, ring.signing_key) == ("HS256", hmac_kid(KEY_B), KEY_B)
    assert dict(ring.verifying_keys) == {hmac_kid(KEY_B): KEY_B, hmac_kid(KEY_A): KEY_A}
    assert ring.verifying_key(hmac_kid(KEY_A)) == KEY_A
    assert ring.verifying_key("unknown") is None
    assert ring.verifying_key(None) is None and ring.verifying_key(["list"]) is None
    assert ring.jwks is None


def test_eddsa_ring_publishes_current_and_previous_public_keys(tmp_path: Path) -> None:
    current, current_public = key_pair(tmp_path, "current")
    _, old_public = key_pair(tmp_path, "old")
    _, older_public = key_pair(tmp_path, "older")
    config = Config(jwt_algorithm="EdDSA", jwt_private_key_file=str(current),
                    jwt_previous_public_key_files=(str(old_public), str(older_public), str(current_public)))
    ring = KeyRing.from_config(config)
    assert ring.algorithm == "EdDSA" and isinstance(ring.signing_key, Ed25519PrivateKey)
    assert ring.jwks is not None
    published = ring.jwks["keys"]
    assert [jwk["kid"] for jwk in published] == list(ring.verifying_keys) == [ring.kid, *[
        public_jwk(serialization.load_pem_public_key(path.read_bytes()))["kid"]  # type: ignore[arg-type]
        for path in (old_public, older_public)]]
    for jwk in published:
        assert set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}  # never "d", the private part
        assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")


def unusable_files(directory: Path) -> dict[str, Path]:
    """Files that are not an unencrypted Ed25519 private key, by what they are."""
    files = {"missing": directory / "missing.pem", "a directory": directory}
    private, public = key_pair(directory, "pair")
    files["a public key"] = public
    encrypted = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"))
    for name, data in {
        "garbage": b"not a key at all\n",
        "empty": b"",
        "binary": bytes(range(256)),
        "encrypted": encrypted,
        "an Ed448 key": ed448.Ed448PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        "an EC key": ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        "truncated": private.read_bytes()[:60],
    }.items():
        files[name] = directory / f"{name.replace(' ', '-')}.pem"
        files[name].write_bytes(data)
    return files


def test_unusable_private_keys_are_config_errors(tmp_path: Path) -> None:
    for what, path in unusable_files(tmp_path).items():
        with pytest.raises(ConfigError) as raised:
            KeyRing.from_config(Config(jwt_algorithm="EdDSA", jwt_private_key_file=str(path)))
        assert "JWT_PRIVATE_KEY_FILE" in str(raised.value) and str(path) in str(raised.value), what


def test_unusable_previous_public_keys_are_config_errors(tmp_path: Path) -> None:
    private, _ = key_pair(tmp_path, "current")
    (tmp_path / "bad").mkdir()
    files = unusable_files(tmp_path / "bad")
    files["a private key"] = private
    del files["a public key"]
    for what, path in files.items():
        config = Config(jwt_algorithm="EdDSA", jwt_private_key_file=str(private),
                        jwt_previous_public_key_files=(str(path),))
        with pytest.raises(ConfigError) as raised:
            KeyRing.from_config(config)
        assert "JWT_PREVIOUS_PUBLIC_KEY_FILES" in str(raised.value), what


def test_create_app_refuses_an_unusable_key_before_touching_the_database(tmp_path: Path) -> None:
    config = Config(database_url=f"sqlite:///{tmp_path / 'never.db'}", jwt_algorithm="EdDSA",
                    jwt_private_key_file=str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError):
        create_app(config)
    assert not (tmp_path / "never.db").exists()


# Rotation: a restart with a new key logs nobody out


def serve_env(database_url: str, **settings: str) -> dict[str, str]:
    return {"WIDGETAPI_ENV": "testing", "DATABASE_URL": database_url, "TOKEN_EXPIRE_SECONDS": "300",
            "BCRYPT_LOG_ROUNDS": "4", **settings}


@pytest.mark.slow
def test_hs256_rotation_across_restarts(app: falcon.App, config: Config, tmp_path: Path) -> None:
    """Key A; then B with A in SECRET_KEY_PREVIOUS: A's token still works, new tokens are B's;
    then B alone (A removed after the tokens' lifetime): A's token is refused."""
    def serve(**settings: str) -> AbstractContextManager[ServerProcess]:
        return server_process(widgetapi_serve, serve_env(config.database_url, **settings), tmp_path,
                              unset=OWN_VARIABLES)

    with serve(SECRET_KEY=KEY_A) as server:
        reply = request(server.url, "POST", "/api/v1/auth/register",
                        {"email": "alice@example.com", "password": PASSWORD})
        assert reply.status == 201, reply.body
        old = bearer(reply.body["access_token"])
    assert jwt.get_unverified_header(old["Authorization"][7:])["kid"] == hmac_kid(KEY_A)
    with serve(SECRET_KEY=KEY_B, SECRET_KEY_PREVIOUS=KEY_A) as server:
        assert request(server.url, "GET", USER, headers=old).body["email"] == "alice@example.com"
        reply = request(server.url, "POST", "/api/v1/auth/login",
                        {"email": "alice@example.com", "password": PASSWORD})
        new = bearer(reply.body["access_token"])
        assert jwt.get_unverified_header(new["Authorization"][7:])["kid"] == hmac_kid(KEY_B)
        assert request(server.url, "GET", USER, headers=new).status == 200
    with serve(SECRET_KEY=KEY_B) as server:
        assert request(server.url, "GET", USER, headers=new).status == 200
        refused = request(server.url, "GET", USER, headers=old)
        assert (refused.status, refused.body["message"]) == (401, INVALID)


def test_eddsa_rotation_across_restarts(app: falcon.App, config: Config, tmp_path: Path) -> None:
    """Two app objects on one database, one after the other, as a restart with a new key
    pair and the old public key in JWT_PREVIOUS_PUBLIC_KEY_FILES."""
    first_private, first_public = key_pair(tmp_path, "first")
    second_private, _ = key_pair(tmp_path, "second")
    eddsa = dataclasses.replace(config, jwt_algorithm="EdDSA", jwt_private_key_file=str(first_private))
    token = register(webtest.TestApp(create_app(eddsa)), "alice@example.com")

    rotated = dataclasses.replace(eddsa, jwt_private_key_file=str(second_private),
                                  jwt_previous_public_key_files=(str(first_public),))
    after = webtest.TestApp(create_app(rotated))
    assert after.get(USER, headers=bearer(token)).json["email"] == "alice@example.com"
    new_token = login(after, "alice@example.com")
    assert jwt.get_unverified_header(new_token)["kid"] == KeyRing.from_config(rotated).kid
    kids = [jwk["kid"] for jwk in after.get("/.well-known/jwks.json").json["keys"]]
    assert kids == [KeyRing.from_config(rotated).kid, KeyRing.from_config(eddsa).kid]

    retired = webtest.TestApp(create_app(dataclasses.replace(rotated, jwt_previous_public_key_files=())))
    retired.get(USER, headers=bearer(new_token), status=200)
    assert retired.get(USER, headers=bearer(token), status=401).json["message"] == INVALID


# widgetapi gen-key


@pytest.mark.slow
def test_gen_key_prints_a_secret_production_accepts(app: falcon.App, config: Config, tmp_path: Path) -> None:
    # WIDGETAPI_ENV=production without a key: gen-key is how to get one
    result = run([widgetapi_command(), "gen-key"], {"WIDGETAPI_ENV": "production"}, tmp_path)
    assert result.returncode == 0, result.stderr
    secret = result.stdout.strip()
    assert result.stdout == secret + "\n" and len(secret) >= 64 and len(set(secret)) >= 8
    assert "," not in secret and " " not in secret  # fits in SECRET_KEY_PREVIOUS later
    assert "SECRET_KEY" in result.stderr
    assert run([widgetapi_command(), "gen-key"], {}, tmp_path).stdout.strip() != secret

    env = {**serve_env(config.database_url, SECRET_KEY=secret), "WIDGETAPI_ENV": "production",
           "ALLOWED_HOSTS": "127.0.0.1"}
    with server_process(widgetapi_serve, env, tmp_path, unset=OWN_VARIABLES) as server:
        reply = request(server.url, "POST", "/api/v1/auth/register",
                        {"email": "alice@example.com", "password": PASSWORD})
        assert reply.status == 201, reply.body
        assert request(server.url, "GET", USER, headers=bearer(reply.body["access_token"])).status == 200


def test_gen_key_writes_an_ed25519_pair(tmp_path: Path) -> None:
    # umask 0: the private key's mode comes from how it is created, not from the umask
    result = subprocess.run([widgetapi_command(), "gen-key", "--algorithm", "EdDSA"],
                            env=environment({}, OWN_VARIABLES), cwd=tmp_path, capture_output=True, text=True,
                            timeout=TIMEOUT, preexec_fn=lambda: os.umask(0))
    assert result.returncode == 0, result.stderr
    private, public = tmp_path / "jwt-ed25519.pem", tmp_path / "jwt-ed25519.pub.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(public.stat().st_mode) == 0o644
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    loaded = serialization.load_pem_private_key(private.read_bytes(), password=None)
    assert isinstance(loaded, Ed25519PrivateKey)
    assert serialization.load_pem_public_key(public.read_bytes()) == loaded.public_key()
    ring = KeyRing.from_config(Config(jwt_algorithm="EdDSA", jwt_private_key_file=str(private)))
    for line in (str(private), str(public), "JWT_ALGORITHM=EdDSA", f"JWT_PRIVATE_KEY_FILE={private}",
                 ring.kid):
        assert line in result.stdout
    assert private.read_text() not in result.stdout


def test_gen_key_never_overwrites(tmp_path: Path) -> None:
    def gen_key(private_key: str, public_key: str) -> subprocess.CompletedProcess[str]:
        return run([widgetapi_command(), "gen-key", "--algorithm", "EdDSA", "--private-key", private_key,
                    "--public-key", public_key], {}, tmp_path)

    private, public = tmp_path / "a.pem", tmp_path / "a.pub.pem"
    assert gen_key("a.pem", "a.pub.pem").returncode == 0
    before = private.read_bytes(), public.read_bytes()
    again = gen_key("a.pem", "a.pub.pem")
    assert again.returncode == 2
    assert again.stderr.count("\n") == 1 and f"{private} already exists" in again.stderr
    assert (private.read_bytes(), public.read_bytes()) == before
    # only the public file taken: nothing is written, not even the free private key file
    other = gen_key("b.pem", "a.pub.pem")
    assert other.returncode == 2 and f"{public} already exists" in other.stderr
    assert not (tmp_path / "b.pem").exists()
    for refused in (gen_key("c.pem", "c.pem"), gen_key("no/such/directory.pem", "d.pub.pem")):
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
        assert "Traceback" not in refused.stderr
    assert {path.name for path in tmp_path.iterdir()} == {"a.pem", "a.pub.pem"}


# Unusable keys stop `widgetapi serve` (and the WSGI entry point) with one line


def refusals(tmp_path: Path) -> list[tuple[dict[str, str], str]]:
    bad = unusable_files(tmp_path)
    private, _ = key_pair(tmp_path, "good")
    production = {"WIDGETAPI_ENV": "production", "ALLOWED_HOSTS": "127.0.0.1", "SECRET_KEY": SECRET_KEY}
    eddsa = {"WIDGETAPI_ENV": "production", "ALLOWED_HOSTS": "127.0.0.1", "JWT_ALGORITHM": "EdDSA"}
    return [
        ({**production, "SECRET_KEY": "insecure-development-key-do-not-use-in-production"}, "SECRET_KEY"),
        ({**production, "SECRET_KEY": "short"}, "SECRET_KEY"),
        ({**production, "SECRET_KEY": "abab" * 10}, "SECRET_KEY"),
        ({**production, "SECRET_KEY_PREVIOUS": "weak"}, "SECRET_KEY_PREVIOUS"),
        (eddsa, "JWT_PRIVATE_KEY_FILE"),
        ({**eddsa, "JWT_PRIVATE_KEY_FILE": str(bad["missing"])}, "JWT_PRIVATE_KEY_FILE"),
        ({**eddsa, "JWT_PRIVATE_KEY_FILE": str(bad["garbage"])}, "JWT_PRIVATE_KEY_FILE"),
        ({**eddsa, "JWT_PRIVATE_KEY_FILE": str(bad["a public key"])}, "JWT_PRIVATE_KEY_FILE"),
        ({**eddsa, "JWT_PRIVATE_KEY_FILE": str(private),
          "JWT_PREVIOUS_PUBLIC_KEY_FILES": str(bad["missing"])}, "JWT_PREVIOUS_PUBLIC_KEY_FILES"),
    ]


@pytest.mark.slow
def test_serve_refuses_unusable_keys_in_one_line(tmp_path: Path) -> None:
    for settings, names in refusals(tmp_path):
        env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'prod.db'}", **settings}
        result = run([widgetapi_command(), "serve", "--port", str(free_port())], env, tmp_path)
        assert result.returncode == 2, (settings, result.stderr)
        assert result.stderr.count("\n") == 1 and names in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_the_wsgi_entry_point_refuses_unusable_keys(tmp_path: Path) -> None:
    """Every key problem is a ConfigError raised while the app is created, which the entry
    point reports (widgetapi/wsgi.py)."""
    for settings, names in refusals(tmp_path):
        env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'prod.db'}", **settings}
        result = run([sys.executable, "-c", "import widgetapi.wsgi"], env, tmp_path)
        assert result.returncode != 0
        assert any(names in line and ("ConfigError" in line or line.startswith("widgetapi"))
                   for line in result.stderr.splitlines()), result.stderr
