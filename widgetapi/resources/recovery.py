"""Account recovery: ask for a reset mail, set a new password with its token, and an
administrator sending a user a reset mail (widgetapi/recovery.py has the token rules)."""
from __future__ import annotations

from typing import Any

import falcon

from widgetapi.auth import require_admin
from widgetapi.body import read_body
from widgetapi.config import Config
from widgetapi.errors import ValidationFailed
from widgetapi.keys import KeyRing
from widgetapi.password_policy import password_problem
from widgetapi.passwords import hash_password
from widgetapi.recovery import InvalidResetToken, consume, find, request_reset, write_transaction
from widgetapi.resources.auth import AccountGone, TokenIssuer, credentials
from widgetapi.resources.users import find_user
from widgetapi.sender import MailSender
from widgetapi.throttle import clear_lockouts, throttled
from widgetapi.validation import Validator

RESET_REQUEST = "/components/schemas/PasswordResetRequest"
RESET_CONFIRM = "/components/schemas/PasswordResetConfirm"
ON_ITS_WAY = "If that email is registered, a password reset link is on its way."
INVALID_TOKEN = {"token": "is invalid or expired"}


class MailNotConfigured(falcon.HTTPServiceUnavailable):
    def __init__(self) -> None:
        super().__init__(description="Password reset by email is not configured")


def mail_configured(req: falcon.Request, resp: falcon.Response, resource: Any, params: dict) -> None:
    """falcon.before hook: 503 when there is no MAIL_URL (production without mail)."""
    if resource._sender is None:
        raise MailNotConfigured()


def queued(resp: falcon.Response, sender: MailSender, message: str) -> None:
    sender.wake()
    resp.status = falcon.HTTP_ACCEPTED
    resp.media = {"status": "success", "message": message}


class PasswordResetRequest:
    """POST /auth/password-reset {email}: the same work and the same 202 whatever the email."""

    auth_required = False

    def __init__(self, config: Config, validator: Validator, sender: MailSender | None) -> None:
        self._config = config
        self._validator = validator
        self._sender = sender

    @falcon.before(mail_configured)
    @falcon.before(throttled("password-reset"))
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = credentials(read_body(req))
        self._validator.validate(RESET_REQUEST, body)
        request_reset(body["email"])
        assert self._sender is not None
        queued(resp, self._sender, ON_ITS_WAY)


class PasswordResetConfirm(TokenIssuer):
    """POST /auth/password-reset/confirm {token, new_password}: the new password, every other
    session ended, the account's lockouts cleared, and a token for a new session."""

    auth_required = False

    def __init__(self, config: Config, validator: Validator, keys: KeyRing,
                 sender: MailSender | None) -> None:
        super().__init__(config, validator, keys)
        self._sender = sender

    @falcon.before(mail_configured)
    @falcon.before(throttled("password-reset-confirm"))
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_body(req)
        self._validator.validate(RESET_CONFIRM, body)
        try:
            reset, user = find(body["token"])
            problem = password_problem(body["new_password"], user.email)
            if problem:
                raise ValidationFailed({"new_password": problem})
            password_hash = hash_password(body["new_password"], self._config.bcrypt_log_rounds)
            with write_transaction():
                consume(reset, user, password_hash)
                user.revoke_all_tokens()
                token = self._start_session(req, user)
        except (InvalidResetToken, AccountGone):
            raise ValidationFailed(INVALID_TOKEN) from None
        clear_lockouts(user.email)
        self._respond_with_token(resp, token, "password reset")


@falcon.before(require_admin)
class UserPasswordReset:
    """POST /users/{public_id}/password-reset (administrators): the user is sent a reset mail."""

    def __init__(self, sender: MailSender | None) -> None:
        self._sender = sender

    @falcon.before(mail_configured)
    def on_post(self, req: falcon.Request, resp: falcon.Response, public_id: str) -> None:
        user = find_user(public_id)
        if user.disabled:
            raise falcon.HTTPConflict(description=f"User {public_id} is disabled: enable the account first")
        request_reset(user.email)
        assert self._sender is not None
        queued(resp, self._sender, f"A password reset mail is on its way to {user.email}.")
