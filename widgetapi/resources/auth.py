"""/auth: register, log in, log out (this token, or all of the user's); issuing a token
starts a session."""
from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import falcon
import peewee

from widgetapi import metrics
from widgetapi.body import read_body
from widgetapi.config import Config
from widgetapi.errors import Unauthorized, ValidationFailed
from widgetapi.keys import KeyRing
from widgetapi.models import Session, User
from widgetapi.password_policy import add_password_problem
from widgetapi.passwords import PasswordHashingBusy, check_password, hash_password, needs_rehash
from widgetapi.throttle import (
    TooManyAttempts,
    record_successful_login,
    reserve_password_check,
    throttled,
)
from widgetapi.timeutil import format_datetime
from widgetapi.tokens import issue_token, new_token_id
from widgetapi.validation import Validator, normalize_email

REGISTRATION = "/components/schemas/Registration"
LOGIN = "/components/schemas/Login"


class EmailTaken(falcon.HTTPConflict):
    def __init__(self, email: str) -> None:
        super().__init__(description=f"{email} is already registered")


def credentials(body: dict[str, Any]) -> dict[str, Any]:
    """The body with its email normalized as the contract says (trimmed, NFC, lower-case)."""
    email = body.get("email")
    return {**body, "email": normalize_email(email)} if isinstance(email, str) else body


class AccountDisabled(falcon.HTTPForbidden):
    def __init__(self) -> None:
        super().__init__(description="This account is disabled")


class AccountGone(Exception):
    """The user was deleted while a token was being issued for them."""


def client_address(req: falcon.Request) -> str:
    """The address a session is recorded from: the client's, as widgetapi.clients finds it
    (the peer, or what a trusted proxy forwards)."""
    return str(req.context.client.address)[:255]


def user_agent(req: falcon.Request) -> str | None:
    """The client's User-Agent as a session records it: at most 255 characters, no NUL
    (PostgreSQL text cannot hold one)."""
    value = (req.user_agent or "").replace("\x00", "")[:255]
    return value or None


class TokenIssuer:
    """Base of the resources that answer with a new token: each token is a new session."""

    def __init__(self, config: Config, validator: Validator, keys: KeyRing) -> None:
        self._config = config
        self._validator = validator
        self._keys = keys

    def _start_session(self, req: falcon.Request, user: User, issued_at: datetime | None = None) -> str:
        """A new token for `user`, issued at `issued_at` (default: now, after the user's
        last revocation), with its session recorded; raises AccountGone."""
        issued_at = issued_at or user.token_issue_time()
        lifetime = self._config.token_expire_seconds
        jti = new_token_id()
        try:
            Session.create(jti=jti, user=user.id, issued_at=issued_at,
                           expires_at=issued_at + timedelta(seconds=lifetime),
                           address=client_address(req), user_agent=user_agent(req),
                           generation=user.token_generation)
        except peewee.IntegrityError:  # the user row went since it was read
            raise AccountGone() from None
        return issue_token(user.public_id, user.admin, self._keys, lifetime,
                           now=issued_at, jti=jti)

    def _respond_with_token(self, resp: falcon.Response, token: str, message: str) -> None:
        resp.set_header("Cache-Control", "no-store")
        resp.set_header("Pragma", "no-cache")
        resp.media = {
            "status": "success",
            "message": message,
            "access_token": token,
            "token_type": "bearer",
            "expires_in": self._config.token_expire_seconds,
        }


class Registration(TokenIssuer):
    auth_required = False

    @falcon.before(throttled("register"))
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = credentials(read_body(req))
        errors = self._validator.errors(REGISTRATION, body)
        add_password_problem(errors, body, "password", body.get("email"))
        if errors:
            raise ValidationFailed(errors)
        password_hash = hash_password(body["password"], self._config.bcrypt_log_rounds)
        try:
            user = User.create(email=body["email"], password_hash=password_hash)
        except peewee.IntegrityError:
            raise EmailTaken(body["email"]) from None
        try:
            token = self._start_session(req, user)
        except AccountGone:  # deleted by an administrator in the meantime
            raise Unauthorized("email or password does not match") from None
        resp.status = falcon.HTTP_CREATED
        self._respond_with_token(resp, token, "successfully registered")


@contextlib.contextmanager
def counted_as_throttled_login() -> Iterator[None]:
    """A login refused with 429 counts as `throttled` in the metrics."""
    try:
        yield
    except TooManyAttempts:
        metrics.login("throttled")
        raise


def counted_as_throttled(hook: Callable[..., None]) -> Callable[..., None]:
    """A falcon.before hook whose 429 counts as a throttled login."""
    def counted(req: falcon.Request, resp: falcon.Response, resource: Any, params: dict) -> None:
        with counted_as_throttled_login():
            hook(req, resp, resource, params)
    return counted


class Login(TokenIssuer):
    auth_required = False

    @falcon.before(counted_as_throttled(throttled("login")))
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_body(req)
        if not body and (req.auth or "").lower().startswith("basic "):
            body = basic_credentials(req.auth or "")
        body = credentials(body)
        self._validator.validate(LOGIN, body)
        email, address, rounds = body["email"], req.context.client.address, self._config.bcrypt_log_rounds
        with counted_as_throttled_login():
            reservation = reserve_password_check(self._config, email, address)
        user = User.by_email(email)
        # The session will carry the token generation read here with the password hash: a
        # revocation (logout everywhere, password change, disabling) that commits during
        # the slow password check raises the user's, and the token is refused all the same.
        issued_at = user.token_issue_time() if user else None
        password_hash = user.password_hash if user else None
        with reservation.checking():
            matches = check_password(body["password"], password_hash, rounds)
        if not matches or user is None:
            metrics.login("failed")
            raise Unauthorized("email or password does not match")
        metrics.login("ok")
        record_successful_login(email, address)
        if needs_rehash(user.password_hash, rounds):
            with contextlib.suppress(PasswordHashingBusy):  # then at a later login
                user.rehash(hash_password(body["password"], rounds))
        if user.disabled:
            raise AccountDisabled()
        try:
            token = self._start_session(req, user, issued_at)
        except AccountGone:
            raise Unauthorized("email or password does not match") from None
        self._respond_with_token(resp, token, "successfully logged in")


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


class Logout:
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        Session.delete().where(Session.jti == req.context.claims.jti).execute()
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
        "disabled": user.disabled,
        "registered_on": format_datetime(user.registered_on),
    }
