"""/auth: register, log in, who am I, log out (this token, or all of the user's)."""
from __future__ import annotations

import base64
import binascii
import contextlib
from typing import Any

import falcon
import peewee

from widgetapi.body import read_body
from widgetapi.config import Config
from widgetapi.errors import Unauthorized
from widgetapi.keys import KeyRing
from widgetapi.models import RevokedToken, User
from widgetapi.passwords import PasswordHashingBusy, check_password, hash_password, needs_rehash
from widgetapi.throttle import (
    check_lockout,
    record_failed_password_check,
    record_successful_login,
    throttled,
)
from widgetapi.timeutil import format_datetime, utcnow
from widgetapi.tokens import issue_token
from widgetapi.validation import Validator

REGISTRATION = "/components/schemas/Registration"
LOGIN = "/components/schemas/Login"


class EmailTaken(falcon.HTTPConflict):
    def __init__(self, email: str) -> None:
        super().__init__(description=f"{email} is already registered")


def credentials(body: dict[str, Any]) -> dict[str, Any]:
    """The body with its email trimmed and lower-cased, as the contract says."""
    email = body.get("email")
    return {**body, "email": email.strip().lower()} if isinstance(email, str) else body


class _TokenIssuer:
    def __init__(self, config: Config, validator: Validator, keys: KeyRing) -> None:
        self._config = config
        self._validator = validator
        self._keys = keys

    def _respond_with_token(self, resp: falcon.Response, user: User, message: str) -> None:
        lifetime = self._config.token_expire_seconds
        resp.set_header("Cache-Control", "no-store")
        resp.set_header("Pragma", "no-cache")
        resp.media = {
            "status": "success",
            "message": message,
            "access_token": issue_token(user.public_id, user.admin, self._keys, lifetime,
                                        now=user.token_issue_time()),
            "token_type": "bearer",
            "expires_in": lifetime,
        }


class Registration(_TokenIssuer):
    auth_required = False

    @falcon.before(throttled("register"))
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = credentials(read_body(req))
        self._validator.validate(REGISTRATION, body)
        password_hash = hash_password(body["password"], self._config.bcrypt_log_rounds)
        try:
            user = User.create(email=body["email"], password_hash=password_hash)
        except peewee.IntegrityError:
            raise EmailTaken(body["email"]) from None
        resp.status = falcon.HTTP_CREATED
        self._respond_with_token(resp, user, "successfully registered")


class Login(_TokenIssuer):
    auth_required = False

    @falcon.before(throttled("login"))
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_body(req)
        if not body and (req.auth or "").lower().startswith("basic "):
            body = basic_credentials(req.auth or "")
        body = credentials(body)
        self._validator.validate(LOGIN, body)
        email, address, rounds = body["email"], req.context.client.address, self._config.bcrypt_log_rounds
        check_lockout(email, address)
        user = User.by_email(email)
        password_hash = user.password_hash if user else None
        matches = check_password(body["password"], password_hash, rounds)
        if not matches or user is None:
            record_failed_password_check(self._config, email, address)
            raise Unauthorized("email or password does not match")
        record_successful_login(email, address)
        if needs_rehash(user.password_hash, rounds):
            with contextlib.suppress(PasswordHashingBusy):  # then at a later login
                user.rehash(hash_password(body["password"], rounds))
        self._respond_with_token(resp, user, "successfully logged in")


def basic_credentials(header: str) -> dict[str, str]:
    """{email, password} from an `Authorization: Basic` header."""
    try:
        decoded = base64.b64decode(header.split(" ", 1)[1].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, IndexError):
        raise Unauthorized("email or password does not match") from None
    email, colon, password = decoded.partition(":")
    if not colon:
        raise Unauthorized("email or password does not match")
    return {"email": email, "password": password}


class CurrentUser:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        user = req.context.user
        resp.media = {
            **represent_user(user),
            "token_expires_in": req.context.claims.seconds_left(utcnow()),
        }


class Logout:
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        claims = req.context.claims
        RevokedToken.revoke(claims.jti, claims.expires_at)
        resp.media = {"status": "success", "message": "successfully logged out"}


class LogoutEverywhere:
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.user.revoke_all_tokens(issued_at_least=req.context.claims.issued_at)
        resp.media = {"status": "success", "message": "successfully logged out everywhere"}


def represent_user(user: User) -> dict[str, Any]:
    return {
        "email": user.email,
        "public_id": str(user.public_id),
        "admin": user.admin,
        "registered_on": format_datetime(user.registered_on),
    }
