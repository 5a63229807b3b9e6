"""Access tokens: widgetapi.tokens on its own, then every kind of bad token against the API."""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import falcon
import jwt
import pytest
import webtest
from conftest import SECRET_KEY, bearer, login, register, with_session
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import HMACAlgorithm, OKPAlgorithm

from widgetapi.app import create_app
from widgetapi.config import Config
from widgetapi.keys import KeyRing
from widgetapi.models import User
from widgetapi.timeutil import utcnow
from widgetapi.tokens import TokenExpired, TokenInvalid, decode_token, issue_token

USER = "/api/v1/auth/user"
LOGOUT = "/api/v1/auth/logout"
REALM = 'Bearer realm="widgetapi"'
INVALID = "Invalid token. Please log in again."
EXPIRED = "Access token expired. Please log in again."
BLACKLISTED = "Token blacklisted. Please log in again."

KEYS = KeyRing.from_config(Config(secret_key=SECRET_KEY))
OTHER_KEYS = KeyRing.from_config(Config(secret_key="another-secret-key-that-is-long-enough"))
HEADER = {"alg": "HS256", "typ": "JWT", "kid": KEYS.kid}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def unb64url_json(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def forge(header: dict[str, Any], payload: dict[str, Any], key: str | bytes = SECRET_KEY,
          digest: Any = hashlib.sha256) -> str:
    """A JWT with exactly this header, HMAC-signed with `digest`: whatever the header claims."""
    signing_input = f"{b64url_json(header)}.{b64url_json(payload)}"
    secret = key.encode() if isinstance(key, str) else key
    signature = hmac.new(secret, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64url(signature)}"


def claims_for(public_id: uuid.UUID | str, admin: bool = False, lifetime: int = 300) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": str(public_id), "admin": admin, "iat": now, "exp": now + lifetime, "jti": uuid.uuid4().hex,
            "iss": "widgetapi", "aud": "widgetapi"}


# widgetapi.tokens on its own


def test_issue_then_decode_round_trip() -> None:
    public_id = uuid.uuid4()
    before = utcnow().replace(microsecond=0)
    token = issue_token(public_id, True, KEYS, 600)
    claims = decode_token(token, KEYS)
    assert claims.public_id == public_id
    assert claims.admin is True
    assert before <= claims.issued_at <= utcnow()
    assert claims.expires_at - claims.issued_at == timedelta(seconds=600)
    assert claims.issued_at.tzinfo is None  # naive UTC, like the database
    assert claims.seconds_left(claims.issued_at) == 600
    assert claims.seconds_left(claims.expires_at + timedelta(seconds=5)) == 0


def test_issued_token_claims() -> None:
    public_id = uuid.uuid4()
    token = issue_token(public_id, False, KEYS, 900)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT", "kid": KEYS.kid}
    payload = jwt.decode(token, SECRET_KEY, algorithms=["HS256"], audience="widgetapi", issuer="widgetapi")
    assert set(payload) == {"sub", "admin", "iat", "exp", "jti", "iss", "aud"}
    assert isinstance(payload["sub"], str)
    assert uuid.UUID(payload["sub"]) == public_id
    assert payload["admin"] is False
    # NumericDates, with microseconds so that a logout everywhere can split a second
    assert isinstance(payload["iat"], (int, float)) and isinstance(payload["exp"], (int, float))
    assert payload["exp"] - payload["iat"] == 900
    assert isinstance(payload["jti"], str) and payload["jti"]


def test_jti_is_unique_per_token() -> None:
    public_id = uuid.uuid4()
    now = utcnow()
    tokens = [issue_token(public_id, False, KEYS, 60, now=now) for _ in range(20)]
    jtis = {decode_token(token, KEYS).jti for token in tokens}
    assert len(jtis) == 20


def test_issue_token_with_a_past_now_is_expired() -> None:
    token = issue_token(uuid.uuid4(), False, KEYS, 60, now=utcnow() - timedelta(hours=1))
    with pytest.raises(TokenExpired) as raised:
        decode_token(token, KEYS)
    assert str(raised.value) == EXPIRED


def test_decode_with_another_key_is_invalid() -> None:
    token = issue_token(uuid.uuid4(), False, OTHER_KEYS, 60)
    with pytest.raises(TokenInvalid) as raised:
        decode_token(token, KEYS)
    assert str(raised.value) == INVALID


@pytest.mark.parametrize("missing", ["sub", "admin", "iat", "exp", "jti", "iss", "aud"])
def test_decode_requires_every_claim(missing: str) -> None:
    payload = claims_for(uuid.uuid4())
    del payload[missing]
    with pytest.raises(TokenInvalid):
        decode_token(forge(HEADER, payload), KEYS)


@pytest.mark.parametrize("change", [
    {"admin": "true"}, {"admin": 1}, {"jti": ""}, {"jti": 42}, {"sub": "not-a-uuid"}, {"sub": 42},
    {"iat": "yesterday"}, {"exp": "tomorrow"}, {"exp": 10**20},
])
def test_decode_rejects_claims_of_the_wrong_kind(change: dict[str, Any]) -> None:
    payload = {**claims_for(uuid.uuid4()), **change}
    with pytest.raises(TokenInvalid):
        decode_token(forge(HEADER, payload), KEYS)


# Bad tokens against the API


def assert_refused(response: webtest.TestResponse, message: str) -> None:
    assert response.status_int == 401
    assert response.json == {"status": "fail", "message": message}
    assert response.headers["WWW-Authenticate"] == (
        f'{REALM}, error="invalid_token", error_description="{message}"')


@pytest.fixture
def alice(testapp: webtest.TestApp) -> User:
    register(testapp, "alice@example.com")
    user = User.by_email("alice@example.com")
    assert user is not None
    return user


def get_user(testapp: webtest.TestApp, token: str) -> webtest.TestResponse:
    return testapp.get(USER, headers=bearer(token), expect_errors=True)


def test_a_good_token_is_accepted(testapp: webtest.TestApp, alice: User) -> None:
    token = with_session(forge(HEADER, claims_for(alice.public_id)))
    assert get_user(testapp, token).json["email"] == "alice@example.com"


def test_the_bearer_scheme_is_case_insensitive(testapp: webtest.TestApp, alice: User) -> None:
    token = login(testapp, "alice@example.com")
    testapp.get(USER, headers={"Authorization": f"bearer {token}"}, status=200)
    testapp.get(USER, headers={"Authorization": f"BEARER {token}"}, status=200)


def test_modified_payload_is_refused(testapp: webtest.TestApp, alice: User) -> None:
    token = login(testapp, "alice@example.com")
    header, payload, signature = token.split(".")
    claims = unb64url_json(payload)
    assert claims["admin"] is False
    forged = ".".join([header, b64url_json({**claims, "admin": True}), signature])
    assert_refused(get_user(testapp, forged), INVALID)


def test_modified_signature_is_refused(testapp: webtest.TestApp, alice: User) -> None:
    token = login(testapp, "alice@example.com")
    header, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert_refused(get_user(testapp, f"{header}.{payload}.{flipped}"), INVALID)


def test_token_signed_with_another_key_is_refused(testapp: webtest.TestApp, alice: User) -> None:
    token = issue_token(alice.public_id, False, OTHER_KEYS, 300)
    assert_refused(get_user(testapp, token), INVALID)


def test_alg_none_token_is_refused(testapp: webtest.TestApp, alice: User) -> None:
    payload = claims_for(alice.public_id, admin=True)
    for header in ({**HEADER, "alg": "none"}, {"alg": "None", "kid": KEYS.kid}, {"alg": "NONE"}):
        unsigned = f"{b64url_json(header)}.{b64url_json(payload)}."
        assert_refused(get_user(testapp, unsigned), INVALID)


@pytest.mark.filterwarnings("ignore:The HMAC key is .* below the minimum recommended length")
@pytest.mark.parametrize(("algorithm", "digest"), [("HS384", hashlib.sha384), ("HS512", hashlib.sha512)])
def test_token_with_another_hmac_algorithm_is_refused(
        testapp: webtest.TestApp, alice: User, algorithm: str, digest: Any) -> None:
    """Correctly signed with the right key, but not HS256."""
    token = forge({**HEADER, "alg": algorithm}, claims_for(alice.public_id), digest=digest)
    payload = jwt.decode(token, SECRET_KEY, algorithms=[algorithm], audience="widgetapi")
    assert payload["sub"] == str(alice.public_id)
    assert_refused(get_user(testapp, token), INVALID)


def test_token_with_an_rs256_header_is_refused(testapp: webtest.TestApp, alice: User) -> None:
    """The algorithm-confusion attack: claims RS256, signed with HMAC over the secret."""
    token = forge({**HEADER, "alg": "RS256"}, claims_for(alice.public_id))
    assert_refused(get_user(testapp, token), INVALID)


def test_header_alg_mismatch_is_refused(testapp: webtest.TestApp, alice: User) -> None:
    """Says HS256, but signed with SHA-512."""
    token = forge(HEADER, claims_for(alice.public_id), digest=hashlib.sha512)
    assert_refused(get_user(testapp, token), INVALID)


def test_expired_token_is_refused(testapp: webtest.TestApp, alice: User, config: Config) -> None:
    past = utcnow() - timedelta(seconds=config.token_expire_seconds + 10)
    token = issue_token(alice.public_id, False, KEYS, config.token_expire_seconds, now=past)
    assert_refused(get_user(testapp, token), EXPIRED)


def test_token_really_expires(app: falcon.App, config: Config) -> None:
    """An app whose tokens live one second: the token works, then after two it is expired."""
    short_lived = webtest.TestApp(create_app(dataclasses.replace(config, token_expire_seconds=1)))
    response = short_lived.post_json("/api/v1/auth/register",
                                     {"email": "alice@example.com", "password": "correct horse battery"})
    assert response.json["expires_in"] == 1
    token = response.json["access_token"]
    short_lived.get(USER, headers=bearer(token), status=200)
    time.sleep(2.1)
    assert_refused(short_lived.get(USER, headers=bearer(token), expect_errors=True), EXPIRED)


@pytest.mark.parametrize("missing", ["sub", "admin", "iat", "exp", "jti", "iss", "aud"])
def test_token_missing_a_claim_is_refused(testapp: webtest.TestApp, alice: User, missing: str) -> None:
    payload = claims_for(alice.public_id)
    del payload[missing]
    assert_refused(get_user(testapp, forge(HEADER, payload)), INVALID)


@pytest.mark.parametrize("sub", ["not-a-uuid", "", "1", "alice@example.com"])
def test_token_whose_sub_is_not_a_uuid_is_refused(testapp: webtest.TestApp, alice: User, sub: str) -> None:
    payload = {**claims_for(alice.public_id), "sub": sub}
    assert_refused(get_user(testapp, forge(HEADER, payload)), INVALID)


def test_token_of_an_unknown_user_is_refused(testapp: webtest.TestApp, alice: User) -> None:
    token = issue_token(uuid.uuid4(), False, KEYS, 300)
    assert_refused(get_user(testapp, token), INVALID)


def test_token_of_a_deleted_user_is_refused(testapp: webtest.TestApp, alice: User) -> None:
    token = login(testapp, "alice@example.com")
    testapp.get(USER, headers=bearer(token), status=200)
    assert User.delete().where(User.id == alice.id).execute() == 1
    assert_refused(get_user(testapp, token), INVALID)
    # Registering the same email again makes a new user, whom the old token does not name.
    register(testapp, "alice@example.com")
    assert_refused(get_user(testapp, token), INVALID)


@pytest.mark.parametrize("garbage", [
    "garbage", "a.b.c", "...", "a.b", "a.b.c.d", "eyJhbGciOiJIUzI1NiJ9",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0", "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln",
    "bm90IGpzb24.bm90IGpzb24.c2ln", "%%%.%%%.%%%", "x" * 5000,
])
def test_malformed_token_is_refused(testapp: webtest.TestApp, alice: User, garbage: str) -> None:
    assert_refused(get_user(testapp, garbage), INVALID)


def test_token_of_a_non_object_payload_is_refused(testapp: webtest.TestApp, alice: User) -> None:
    header = b64url_json(HEADER)
    for payload in ([1, 2], "text", 42, None):
        signing_input = f"{header}.{b64url_json(payload)}"
        signature = hmac.new(SECRET_KEY.encode(), signing_input.encode(), hashlib.sha256).digest()
        assert_refused(get_user(testapp, f"{signing_input}.{b64url(signature)}"), INVALID)


@pytest.mark.parametrize("authorization", ["Bearer", "Bearer ", "Bearer    ", "bearer\t"])
def test_bearer_with_an_empty_token_is_refused(testapp: webtest.TestApp, authorization: str) -> None:
    response = testapp.get(USER, headers={"Authorization": authorization}, expect_errors=True)
    assert_refused(response, INVALID)


def test_no_authorization_header(testapp: webtest.TestApp) -> None:
    response = testapp.get(USER, status=401)
    assert response.json == {"status": "fail", "message": "Unauthorized"}
    assert response.headers["WWW-Authenticate"] == REALM


@pytest.mark.parametrize("authorization", [
    "Basic " + base64.b64encode(b"alice@example.com:correct horse battery").decode(),
    "Token abc", "Digest username=alice", "",
])
def test_another_scheme_is_no_token(testapp: webtest.TestApp, alice: User, authorization: str) -> None:
    response = testapp.get(USER, headers={"Authorization": authorization}, status=401)
    assert response.json == {"status": "fail", "message": "Unauthorized"}
    assert response.headers["WWW-Authenticate"] == REALM


def test_bad_tokens_are_refused_on_every_protected_route(
        testapp: webtest.TestApp, alice: User, admin_headers: dict[str, str]) -> None:
    bad = bearer(issue_token(alice.public_id, True, OTHER_KEYS, 300))
    requests = [
        ("GET", "/api/v1/auth/user"), ("POST", "/api/v1/auth/logout"), ("GET", "/api/v1/users"),
        ("GET", "/api/v1/widgets"), ("POST", "/api/v1/widgets"), ("GET", "/api/v1/widgets/thing"),
        ("PUT", "/api/v1/widgets/thing"), ("DELETE", "/api/v1/widgets/thing"),
    ]
    for method, path in requests:
        response = testapp.request(path, method=method, headers=bad, expect_errors=True)
        assert_refused(response, INVALID)
        response = testapp.request(path, method=method, expect_errors=True)
        assert response.status_int == 401, (method, path)
        assert response.headers["WWW-Authenticate"] == REALM


def test_logout_is_seen_by_another_app_instance(app: falcon.App, config: Config) -> None:
    """The blacklist lives in the database, not in an app object: a second app on the same
    database refuses a token logged out through the first. (Both bind the models' one
    database proxy, so this is about the app objects; other processes are tested elsewhere.)"""
    first = webtest.TestApp(app)
    token = register(first, "alice@example.com")
    second = webtest.TestApp(create_app(config))
    second.get(USER, headers=bearer(token), status=200)
    first.post(LOGOUT, headers=bearer(token), status=200)
    assert_refused(second.get(USER, headers=bearer(token), expect_errors=True), BLACKLISTED)
    assert_refused(first.get(USER, headers=bearer(token), expect_errors=True), BLACKLISTED)


def test_token_lifetime_matches_config(testapp: webtest.TestApp, config: Config) -> None:
    token = register(testapp, "alice@example.com")
    payload = jwt.decode(token, SECRET_KEY, algorithms=["HS256"], audience="widgetapi")
    assert payload["exp"] - payload["iat"] == config.token_expire_seconds
    assert abs(payload["iat"] - datetime.now(timezone.utc).timestamp()) < 60


# Keys: the kid picks the key, the configuration the algorithm; issuer and audience


@pytest.mark.parametrize("change", [
    {"iss": "someone-else"}, {"iss": "widget"}, {"iss": "widgetapi-evil"}, {"iss": ["widgetapi"]},
    {"iss": None}, {"aud": "someone-else"}, {"aud": "widget"}, {"aud": ["someone-else"]}, {"aud": 42},
    {"aud": None}, {"aud": []},
])
def test_decode_checks_issuer_and_audience(change: dict[str, Any]) -> None:
    payload = {**claims_for(uuid.uuid4()), **change}
    with pytest.raises(TokenInvalid):
        decode_token(forge(HEADER, payload), KEYS)


def test_an_audience_list_naming_ours_is_accepted() -> None:
    """RFC 7519: `aud` may be a list; the token is for us if we are in it."""
    payload = {**claims_for(uuid.uuid4()), "aud": ["inventory", "widgetapi"]}
    assert decode_token(forge(HEADER, payload), KEYS).public_id == uuid.UUID(payload["sub"])


def test_issuer_and_audience_come_from_the_configuration() -> None:
    ours = KeyRing.from_config(Config(secret_key=SECRET_KEY, token_issuer="https://auth.example.com",
                                      token_audience="widgets"))
    token = issue_token(uuid.uuid4(), False, ours, 60)
    claims = jwt.decode(token, SECRET_KEY, algorithms=["HS256"], audience="widgets")
    assert (claims["iss"], claims["aud"]) == ("https://auth.example.com", "widgets")
    decode_token(token, ours)
    with pytest.raises(TokenInvalid):  # same key, but issued for another audience by another issuer
        decode_token(token, KEYS)


@pytest.mark.parametrize("header", [
    {"alg": "HS256", "typ": "JWT"}, {**HEADER, "kid": "unknown"}, {**HEADER, "kid": ""},
    {**HEADER, "kid": 42}, {**HEADER, "kid": [KEYS.kid]}, {**HEADER, "kid": KEYS.kid.upper()},
])
def test_a_missing_or_unknown_kid_is_refused(testapp: webtest.TestApp, alice: User,
                                              header: dict[str, Any]) -> None:
    """Signed with the right key, but not naming it."""
    assert_refused(get_user(testapp, forge(header, claims_for(alice.public_id))), INVALID)


def test_a_previous_key_verifies_but_never_signs(config: Config) -> None:
    old = issue_token(uuid.uuid4(), False, OTHER_KEYS, 60)
    rotated = KeyRing.from_config(dataclasses.replace(
        config, secret_key_previous=("another-secret-key-that-is-long-enough",)))
    decode_token(old, rotated)
    assert jwt.get_unverified_header(issue_token(uuid.uuid4(), False, rotated, 60))["kid"] == KEYS.kid


@pytest.fixture
def eddsa_keys(eddsa_config: Config) -> KeyRing:
    return KeyRing.from_config(eddsa_config)


@pytest.fixture
def eddsa_testapp(app: falcon.App, eddsa_config: Config) -> webtest.TestApp:
    """An app signing with EdDSA, on the test database (its tables made by `app`)."""
    return webtest.TestApp(create_app(eddsa_config))


def eddsa_token(private_key: Any, payload: dict[str, Any], **header: Any) -> str:
    return jwt.encode(payload, private_key, algorithm="EdDSA", headers=header)


def test_eddsa_tokens_are_refused_by_an_hs256_server(testapp: webtest.TestApp, alice: User,
                                                      eddsa_keys: KeyRing) -> None:
    """Correctly signed EdDSA tokens, naming the EdDSA key's kid or the server's own."""
    for kid in (eddsa_keys.kid, KEYS.kid):
        token = eddsa_token(eddsa_keys.signing_key, claims_for(alice.public_id), kid=kid)
        assert_refused(get_user(testapp, token), INVALID)


def test_hs256_tokens_are_refused_by_an_eddsa_server(eddsa_testapp: webtest.TestApp,
                                                      eddsa_keys: KeyRing) -> None:
    """The algorithm-confusion attack: the public key (which anyone can fetch) used as an HMAC
    secret under the key's kid; and an HS256 token of the server's former secret."""
    register(eddsa_testapp, "alice@example.com")
    alice = User.by_email("alice@example.com")
    assert alice is not None
    payload = claims_for(alice.public_id)
    public_key = eddsa_keys.signing_key.public_key()
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    jwk_json = json.dumps(eddsa_testapp.get("/.well-known/jwks.json").json["keys"][0]).encode()
    header = {"alg": "HS256", "typ": "JWT", "kid": eddsa_keys.kid}
    for secret in (pem, raw, jwk_json, b64url(raw).encode()):
        assert_refused(get_user(eddsa_testapp, forge(header, payload, key=secret)), INVALID)
    assert_refused(get_user(eddsa_testapp, forge(HEADER, payload)), INVALID)
    assert_refused(get_user(eddsa_testapp, issue_token(alice.public_id, False, KEYS, 60)), INVALID)
    # the same payload, signed as the configuration says, is accepted
    good = with_session(eddsa_token(eddsa_keys.signing_key, payload, kid=eddsa_keys.kid))
    assert get_user(eddsa_testapp, good).json["email"] == "alice@example.com"


def test_unsigned_missing_kid_and_foreign_eddsa_tokens_are_refused(
        eddsa_testapp: webtest.TestApp, eddsa_keys: KeyRing) -> None:
    register(eddsa_testapp, "alice@example.com")
    alice = User.by_email("alice@example.com")
    assert alice is not None
    payload = claims_for(alice.public_id)
    for alg in ("none", "None"):
        unsigned = f"{b64url_json({'alg': alg, 'typ': 'JWT', 'kid': eddsa_keys.kid})}.{b64url_json(payload)}."
        assert_refused(get_user(eddsa_testapp, unsigned), INVALID)
    assert_refused(get_user(eddsa_testapp, eddsa_token(eddsa_keys.signing_key, payload)), INVALID)
    assert_refused(get_user(eddsa_testapp, eddsa_token(eddsa_keys.signing_key, payload, kid="x")), INVALID)
    stranger = Ed25519PrivateKey.generate()
    assert_refused(get_user(eddsa_testapp, eddsa_token(stranger, payload, kid=eddsa_keys.kid)), INVALID)
    for missing in ("iss", "aud"):
        incomplete = {name: value for name, value in payload.items() if name != missing}
        token = eddsa_token(eddsa_keys.signing_key, incomplete, kid=eddsa_keys.kid)
        assert_refused(get_user(eddsa_testapp, token), INVALID)


def test_one_signature_check_per_request(monkeypatch: pytest.MonkeyPatch, testapp: webtest.TestApp,
                                         eddsa_testapp: webtest.TestApp) -> None:
    """The hot path verifies one signature; reading the kid costs no cryptography."""
    checks: list[str] = []
    for algorithm in (HMACAlgorithm, OKPAlgorithm):
        def counted(self: Any, *args: Any, _original: Any = algorithm.verify) -> bool:
            checks.append(type(self).__name__)
            return bool(_original(self, *args))
        monkeypatch.setattr(algorithm, "verify", counted)
    hs256 = register(testapp, "alice@example.com")
    eddsa = register(eddsa_testapp, "bob@example.com")
    assert checks == []
    testapp.get(USER, headers=bearer(hs256), status=200)
    assert checks == ["HMACAlgorithm"]
    eddsa_testapp.get(USER, headers=bearer(eddsa), status=200)
    assert checks == ["HMACAlgorithm", "OKPAlgorithm"]
