"""The keys that sign and verify access tokens: a key ring built once from the Config.

HS256: the signing key is SECRET_KEY; SECRET_KEY_PREVIOUS still verify. EdDSA: the signing
key is the Ed25519 private key in JWT_PRIVATE_KEY_FILE; its public key and those in
JWT_PREVIOUS_PUBLIC_KEY_FILES verify, and are published as a JWK Set. Every key has a key id
(`kid`, in each token's header) derived from the key itself, so it is the same in every
process and after every restart, and verifying picks the key by it. The cryptography is
PyJWT's, on the `cryptography` package; nothing here signs or verifies by hand.
"""
from __future__ import annotations

import base64
import errno
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

from widgetapi.config import Config, ConfigError

# How long other services may cache the JWK Set (Cache-Control max-age). Short, because a key
# removed from JWT_PREVIOUS_PUBLIC_KEY_FILES (say, after it leaked) stays trusted by them that
# much longer; PyJWKClient also fetches the set again when a token names a kid it has not seen,
# so a new signing key is picked up at once whatever this is.
JWKS_MAX_AGE_SECONDS = 300


@dataclass(frozen=True)
class KeyRing:
    """What signing and checking a token needs: the algorithm (pinned: tokens naming another
    are refused), the signing key and its kid, every verifying key by kid, and the issuer
    and audience the tokens name."""

    algorithm: str
    kid: str
    signing_key: Any  # the HS256 secret (str) or an Ed25519PrivateKey
    verifying_keys: Mapping[str, Any]  # kid -> secret or Ed25519PublicKey, the current one first
    issuer: str
    audience: str
    jwks: Mapping[str, Any] | None = None  # the public JWK Set, EdDSA only

    @classmethod
    def from_config(cls, config: Config) -> KeyRing:
        """Load the configured keys; any key that cannot be used raises ConfigError."""
        if config.jwt_algorithm == "EdDSA":
            return cls._eddsa(config)
        if config.jwt_algorithm != "HS256":
            raise ConfigError(f"JWT_ALGORITHM must be HS256 or EdDSA, not {config.jwt_algorithm!r}")
        if not config.secret_key:
            raise ConfigError("SECRET_KEY must not be empty")
        secrets_by_kid = {hmac_kid(key): key for key in (config.secret_key, *config.secret_key_previous)}
        return cls("HS256", hmac_kid(config.secret_key), config.secret_key, secrets_by_kid,
                   config.token_issuer, config.token_audience)

    @classmethod
    def _eddsa(cls, config: Config) -> KeyRing:
        private_key = load_private_key(config.jwt_private_key_file)
        public_keys = [private_key.public_key()]
        public_keys += [load_public_key(path) for path in config.jwt_previous_public_key_files]
        jwks = [public_jwk(key) for key in public_keys]
        by_kid = {jwk["kid"]: key for jwk, key in zip(jwks, public_keys, strict=True)}
        unique = list({jwk["kid"]: jwk for jwk in jwks}.values())
        return cls("EdDSA", jwks[0]["kid"], private_key, by_kid, config.token_issuer,
                   config.token_audience, {"keys": unique})

    def verifying_key(self, kid: object) -> Any | None:
        """The key a token's `kid` names, or None for a missing or unknown kid."""
        return self.verifying_keys.get(kid) if isinstance(kid, str) else None


def hmac_kid(secret: str) -> str:
    """The kid of an HS256 secret: 16 characters of HMAC-SHA256(secret, a fixed label).

    Every token shows its kid, so it must say nothing useful about the secret. It is a keyed
    hash of a public label, so checking a guess of the secret against it costs as much as
    checking the guess against any token's own signature, which an attacker already has; and
    unlike a plain hash of the secret, no table of hashes of common strings matches it. A weak
    secret is no safer without a kid: production refuses short or repetitive ones. What it does
    tell: two deployments whose tokens show the same kid share a secret."""
    digest = hmac.new(secret.encode(), b"widgetapi token key id", hashlib.sha256).digest()
    return _b64url(digest[:12])


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 thumbprint of an OKP public JWK (RFC 8037): SHA-256 of its required members
    as JSON, sorted, without whitespace. The kid of an Ed25519 key."""
    required = {name: jwk[name] for name in ("crv", "kty", "x")}
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def public_jwk(key: Ed25519PublicKey) -> dict[str, str]:
    """The key as a JWK for the JWK Set, with its kid and what it is for."""
    jwk: dict[str, str] = OKPAlgorithm.to_jwk(key, as_dict=True)
    return {**jwk, "kid": jwk_thumbprint(jwk), "alg": "EdDSA", "use": "sig"}


def load_private_key(path: str) -> Ed25519PrivateKey:
    data = _read("JWT_PRIVATE_KEY_FILE", path)
    try:
        key: object = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):  # not PEM, encrypted, unknown kind
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"JWT_PRIVATE_KEY_FILE: {path} is not an unencrypted Ed25519 private key in PEM "
                          "(`widgetapi gen-key --algorithm EdDSA` writes one)")
    return key


def load_public_key(path: str) -> Ed25519PublicKey:
    data = _read("JWT_PREVIOUS_PUBLIC_KEY_FILES", path)
    try:
        key: object = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"JWT_PREVIOUS_PUBLIC_KEY_FILES: {path} is not an Ed25519 public key in PEM "
                          "(the public key file `widgetapi gen-key --algorithm EdDSA` wrote)")
    return key


def _read(setting: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise ConfigError(f"{setting}: cannot read {path}: {error.strerror or error}") from None


def new_secret() -> str:
    """A new HS256 secret: 48 random bytes, URL-safe (no commas, so it can go in SECRET_KEY_PREVIOUS)."""
    return secrets.token_urlsafe(48)


def write_key_pair(private_path: Path, public_path: Path) -> str:
    """Write a new Ed25519 key pair as PEM (PKCS#8 private, SubjectPublicKeyInfo public) and
    return its kid. The private key file is created with mode 0600 from the start, and
    neither file may exist already (FileExistsError): a key is never overwritten."""
    if private_path.resolve() == public_path.resolve():
        raise ValueError("the private and the public key need two different files")
    private_key = Ed25519PrivateKey.generate()
    private_pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption())
    public_pem = private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    for path in (private_path, public_path):  # both first, so that a refusal writes nothing
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
    _create(private_path, private_pem, 0o600)
    try:
        _create(public_path, public_pem, 0o644)
    except BaseException:
        private_path.unlink()
        raise
    return public_jwk(private_key.public_key())["kid"]


def _create(path: Path, data: bytes, mode: int) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
