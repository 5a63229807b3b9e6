"""/auth/user and /auth/password: the caller's own account — who am I, change my password,
delete my account. The last two need the current password."""
from __future__ import annotations

import falcon

from widgetapi.accounts import delete_user
from widgetapi.body import read_body
from widgetapi.config import Config
from widgetapi.db import database
from widgetapi.errors import Unauthorized, ValidationFailed
from widgetapi.models import User
from widgetapi.password_policy import add_password_problem
from widgetapi.passwords import check_password, hash_password
from widgetapi.resources.auth import AccountGone, TokenIssuer, client_address, represent_user
from widgetapi.throttle import record_successful_login, reserve_password_check, throttled
from widgetapi.timeutil import utcnow
from widgetapi.validation import Validator

PASSWORD_CHANGE = "/components/schemas/PasswordChange"
ACCOUNT_DELETION = "/components/schemas/AccountDeletion"
INVALID = "Invalid token. Please log in again."


def require_current_password(req: falcon.Request, user: User, password: str, config: Config) -> None:
    """400 with errors.current_password when `password` is not the user's. A wrong one is a
    failed login for the throttle (this email from this client address), and a locked-out
    pair gets 429 before any check: a stolen token cannot try passwords faster than a login."""
    password_hash = User.password_hash_of(user.id)
    if password_hash is None:  # the account was deleted since the token check
        raise Unauthorized(INVALID, invalid_token=True)
    address = client_address(req)
    with reserve_password_check(config, user.email, address).checking():
        matches = check_password(password, password_hash, config.bcrypt_log_rounds)
    if not matches:
        raise ValidationFailed({"current_password": "does not match"})
    record_successful_login(user.email, address)


class CurrentUser:
    def __init__(self, config: Config, validator: Validator) -> None:
        self._config = config
        self._validator = validator

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        user = req.context.user
        resp.media = {
            **represent_user(user),
            "token_expires_in": req.context.claims.seconds_left(utcnow()),
        }

    @falcon.before(throttled("delete-account"))
    def on_delete(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Delete my account; its widgets stay, without an owner."""
        body = read_body(req)
        self._validator.validate(ACCOUNT_DELETION, body)
        require_current_password(req, req.context.user, body["current_password"], self._config)
        if not delete_user(req.context.user):  # deleted meanwhile by an administrator
            raise Unauthorized(INVALID, invalid_token=True)
        resp.status = falcon.HTTP_NO_CONTENT


class Password(TokenIssuer):
    @falcon.before(throttled("password"))
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Change my password: every other token of mine is refused from now on; the answer
        carries a new one."""
        body = read_body(req)
        user: User = req.context.user
        errors = self._validator.errors(PASSWORD_CHANGE, body)
        add_password_problem(errors, body, "new_password", user.email)
        if errors:
            raise ValidationFailed(errors)
        require_current_password(req, user, body["current_password"], self._config)
        password_hash = hash_password(body["new_password"], self._config.bcrypt_log_rounds)
        try:
            with database.atomic():
                User.update(password_hash=password_hash).where(User.id == user.id).execute()
                user.revoke_all_tokens(issued_at_least=req.context.claims.issued_at)
                token = self._start_session(req, user)
        except AccountGone:
            raise Unauthorized(INVALID, invalid_token=True) from None
        self._respond_with_token(resp, token, "password changed")


