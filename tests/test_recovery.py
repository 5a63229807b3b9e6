"""Password reset by email, end to end through a real SMTP server (aiosmtpd, STARTTLS and AUTH):
the request answers alike for every email and does the same work, the mail holds a token that
works once and expires, newer tokens and password changes supersede older ones, the confirm ends
every session and clears lockouts; administrators send reset mails; no token reaches a log."""
from __future__ import annotations

import dataclasses
import logging
import re
import time

import falcon
import pytest
import webtest
from conftest import PASSWORD, bearer, login, register
from servers import race, request, threaded_server
from smtp_server import TOKEN_LINE, Certificates, SmtpServer, sending_to, token_in

from widgetapi import operations
from widgetapi.app import mail_sender
from widgetapi.config import Config
from widgetapi.db import database
from widgetapi.models import User
from widgetapi.outbox import OutboxMail
from widgetapi.recovery import PasswordReset, hash_token
from widgetapi.sender import stop_all

RESET, CONFIRM = "/api/v1/auth/password-reset", "/api/v1/auth/password-reset/confirm"
ON_ITS_WAY = {"status": "success",
              "message": "If that email is registered, a password reset link is on its way."}
INVALID = {"status": "fail", "message": "Input payload validation failed",
           "errors": {"token": "is invalid or expired"}}
NEW_PASSWORD = "staple battery horse correct"
RESET_PAGE = "https://app.example.com/reset?token={token}"


@pytest.fixture
def config(config: Config, smtp: SmtpServer, certificates: Certificates) -> Config:
    return sending_to(config, smtp, certificates, mail_from="accounts@example.com",
                      password_reset_url=RESET_PAGE, token_expire_seconds=300)


def ask(testapp: webtest.TestApp, email: str) -> None:
    response = testapp.post_json(RESET, {"email": email}, status=202)
    assert response.json == ON_ITS_WAY


def reset_token(testapp: webtest.TestApp, smtp: SmtpServer, email: str) -> str:
    """Ask for a reset mail for `email` and read its token from the mail that arrives."""
    before = len(smtp.inbox.messages)
    ask(testapp, email)
    return token_in(smtp.inbox.wait_for(before + 1)[before])


def confirm(testapp: webtest.TestApp, token: str, password: str = NEW_PASSWORD, status: int = 200) -> dict:
    return dict(testapp.post_json(CONFIRM, {"token": token, "new_password": password}, status=status).json)


def test_a_forgotten_password_is_reset_through_the_mail(testapp: webtest.TestApp, smtp: SmtpServer,
                                                         config: Config) -> None:
    sessions = [bearer(register(testapp, "alice@example.com")), bearer(login(testapp, "alice@example.com"))]

    ask(testapp, "  Alice@Example.com ")
    [mail] = smtp.inbox.wait_for(1)

    assert (mail["To"], mail["From"], mail["Subject"]) == (
        "alice@example.com", "accounts@example.com", "Reset your widgetapi password")
    token = token_in(mail)
    body = mail.get_content()
    assert f"https://app.example.com/reset?token={token}" in body
    with database.connection_context():
        [stored] = PasswordReset.select()
    assert stored.token_hash == hash_token(token) and token not in stored.token_hash
    assert re.search(r"until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(30 minutes", body)
    assert 1790 <= (stored.expires_at - stored.created_at).total_seconds() <= 1800

    answer = confirm(testapp, token)
    assert answer["message"] == "password reset" and answer["token_type"] == "bearer"
    testapp.get("/api/v1/auth/user", headers=bearer(answer["access_token"]), status=200)
    for headers in sessions:
        testapp.get("/api/v1/auth/user", headers=headers, status=401)
    testapp.post_json("/api/v1/auth/login", {"email": "alice@example.com", "password": PASSWORD}, status=401)
    login(testapp, "alice@example.com", NEW_PASSWORD)
    assert confirm(testapp, token, "another strong passphrase", status=400) == INVALID  # once only


@pytest.fixture
def quiet_app(app: falcon.App, config: Config) -> falcon.App:
    """The app with its own sender stopped: a test delivers the outbox itself."""
    stop_all()
    return app


def test_the_request_does_the_same_work_whatever_the_email(quiet_app: falcon.App, config: Config,
                                                          smtp: SmtpServer) -> None:
    testapp = webtest.TestApp(quiet_app)
    register(testapp, "alice@example.com")
    register(testapp, "limited@example.com")
    register(testapp, "off@example.com")
    operations.create_admin(config, "admin@example.com", lambda: PASSWORD)
    admin = bearer(login(testapp, "admin@example.com"))
    off = testapp.get("/api/v1/users?per_page=100", headers=admin).json["items"][2]["public_id"]
    testapp.patch_json(f"/api/v1/users/{off}", {"disabled": True}, headers=admin, status=200)
    emails = ["alice@example.com", "nobody@example.com", "off@example.com"] + ["limited@example.com"] * 4

    for email in emails:  # every answer the same, every request one row of the same kind
        ask(testapp, email)
    with database.connection_context():
        rows = [(row.kind, row.recipient) for row in OutboxMail.select().order_by(OutboxMail.id)]
    assert rows == [("password_reset", email) for email in emails]

    sender = mail_sender(config)
    assert sender is not None
    while sender.send_one():
        pass
    with database.connection_context():
        assert OutboxMail.select().count() == 0
    time.sleep(0.5)  # nothing more arrives
    assert sorted(m["To"] for m in smtp.inbox.messages) == ["alice@example.com"] + ["limited@example.com"] * 3


def test_newer_tokens_password_changes_expiry_and_disabling_make_tokens_fail(
        testapp: webtest.TestApp, smtp: SmtpServer, config: Config, app: falcon.App) -> None:
    headers = bearer(register(testapp, "alice@example.com"))
    first = reset_token(testapp, smtp, "alice@example.com")
    second = reset_token(testapp, smtp, "alice@example.com")
    assert confirm(testapp, first, status=400) == INVALID  # superseded by the newer one
    testapp.post_json("/api/v1/auth/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
                      headers=headers, status=200)
    assert confirm(testapp, second, "yet another passphrase", status=400) == INVALID  # password changed
    assert confirm(testapp, "not-a-token-anyone-was-sent", status=400) == INVALID

    third = reset_token(testapp, smtp, "alice@example.com")
    with database.connection_context():  # expired
        PasswordReset.update(expires_at=PasswordReset.created_at).execute()
    assert confirm(testapp, third, status=400) == INVALID


def test_a_disabled_accounts_token_is_refused(testapp: webtest.TestApp, smtp: SmtpServer) -> None:
    register(testapp, "bob@example.com")
    token = reset_token(testapp, smtp, "bob@example.com")
    with database.connection_context():
        User.update(disabled=True).where(User.email == "bob@example.com").execute()
    assert confirm(testapp, token, status=400) == INVALID


def test_a_reset_token_expires(testapp: webtest.TestApp, smtp: SmtpServer, config: Config,
                               app: falcon.App) -> None:
    register(testapp, "alice@example.com")
    token = reset_token(testapp, smtp, "alice@example.com")
    with database.connection_context():
        PasswordReset.update(expires_at=PasswordReset.created_at).execute()
    assert confirm(testapp, token, status=400) == INVALID


def test_the_confirm_clears_the_accounts_lockouts(testapp: webtest.TestApp, smtp: SmtpServer,
                                                  config: Config, app: falcon.App) -> None:
    register(testapp, "alice@example.com")
    token = reset_token(testapp, smtp, "alice@example.com")
    from widgetapi.throttle import reserve_password_check
    from widgetapi.throttle_counts import LoginFailures
    strict = dataclasses.replace(config, login_max_failures=1)
    with database.connection_context():
        for address in ("127.0.0.1", "10.0.0.9"):
            reserve_password_check(strict, "alice@example.com", address)  # a failure, locking
        assert LoginFailures.select().where(LoginFailures.locked_until.is_null(False)).count() == 2
    confirm(testapp, token)
    with database.connection_context():
        assert LoginFailures.select().where(LoginFailures.email == "alice@example.com").count() == 0
    login(testapp, "alice@example.com", NEW_PASSWORD)


@pytest.fixture
def roomy(config: Config) -> Config:
    """Room for every racer at once: connections and password hashing."""
    return dataclasses.replace(config, database_pool_size=12, password_hash_concurrency=8)


def test_one_token_confirmed_at_once_over_http_works_once(app: falcon.App, roomy: Config,
                                                          smtp: SmtpServer) -> None:
    from widgetapi.app import create_app
    app = create_app(roomy)  # on the tables the app fixture made
    testapp = webtest.TestApp(app)
    register(testapp, "alice@example.com")
    token = reset_token(testapp, smtp, "alice@example.com")
    with threaded_server(app) as url:
        replies = race([lambda n=n: request(url, "POST", CONFIRM,  # type: ignore[misc]
                                            {"token": token, "new_password": f"{NEW_PASSWORD} {n}"})
                        for n in range(6)])
    assert sorted(reply.status for reply in replies) == [200] + [400] * 5, replies
    [winner] = [n for n, reply in enumerate(replies) if reply.status == 200]
    login(testapp, "alice@example.com", f"{NEW_PASSWORD} {winner}")


def test_administrators_send_a_reset_mail(testapp: webtest.TestApp, smtp: SmtpServer, config: Config,
                                          admin_headers: dict[str, str]) -> None:
    user = bearer(register(testapp, "alice@example.com"))
    alice = testapp.get("/api/v1/auth/user", headers=user).json["public_id"]
    answer = testapp.post(f"/api/v1/users/{alice}/password-reset", headers=admin_headers, status=202)
    assert answer.json["message"] == "A password reset mail is on its way to alice@example.com."
    confirm(testapp, token_in(smtp.inbox.wait_for(1)[0]))
    testapp.post(f"/api/v1/users/{alice}/password-reset", headers=user, status=401)  # its session ended
    other = bearer(register(testapp, "bob@example.com"))
    testapp.post(f"/api/v1/users/{alice}/password-reset", headers=other, status=403)
    testapp.post("/api/v1/users/00000000-0000-0000-0000-000000000000/password-reset", headers=admin_headers,
                 status=404)
    testapp.patch_json(f"/api/v1/users/{alice}", {"disabled": True}, headers=admin_headers, status=200)
    testapp.post(f"/api/v1/users/{alice}/password-reset", headers=admin_headers, status=409)


def test_reset_requests_and_confirms_count_against_the_auth_rate(app: falcon.App, config: Config) -> None:
    from widgetapi.app import create_app
    testapp = webtest.TestApp(create_app(dataclasses.replace(config, auth_rate_per_minute=2)))
    try:
        testapp.post_json(RESET, {"email": "a@example.com"}, status=202)
        confirm(testapp, "unknown-token", status=400)
        refused = testapp.post_json(RESET, {"email": "a@example.com"}, status=429)
        assert refused.headers["Retry-After"] and refused.json["message"].startswith("Too many attempts")
        testapp.post_json(CONFIRM, {"token": "x", "new_password": NEW_PASSWORD}, status=429)
    finally:
        stop_all()


def test_without_mail_the_endpoints_answer_503(config: Config, admin_headers: dict[str, str]) -> None:
    from widgetapi.app import create_app
    testapp = webtest.TestApp(create_app(dataclasses.replace(config, mail_url=None)))
    message = {"status": "error", "message": "Password reset by email is not configured"}
    assert testapp.post_json(RESET, {"email": "a@example.com"}, status=503).json == message
    body = {"token": "x", "new_password": NEW_PASSWORD}
    assert testapp.post_json(CONFIRM, body, status=503).json == message
    alice = "/api/v1/users/00000000-0000-0000-0000-000000000000/password-reset"
    assert testapp.post(alice, headers=admin_headers, status=503).json == message


def test_no_token_reaches_a_log(testapp: webtest.TestApp, smtp: SmtpServer, config: Config,
                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("widgetapi").setLevel(logging.DEBUG)
    register(testapp, "alice@example.com")
    token = reset_token(testapp, smtp, "alice@example.com")
    confirm(testapp, token)
    confirm(testapp, token, status=400)
    testapp.post(CONFIRM, {"token": token, "new_password": "x"}, status=400)  # as a form, and invalid
    deadline = time.monotonic() + 30  # the sender logs its line once the server took the mail
    while not any("accepted by smtp://" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # Everything logged at every level (peewee's queries too), but the test SMTP server's own
    # lines ("mail.log"): it is where the mail goes.
    logged = "\n".join(record.getMessage() for record in caplog.records if record.name != "mail.log")
    assert "accepted by smtp://" in logged and "password-reset/confirm 200" in logged
    assert token not in logged


def test_with_mail_url_log_the_mail_goes_to_the_log(app: falcon.App, config: Config,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    from widgetapi.app import create_app
    testapp = webtest.TestApp(create_app(dataclasses.replace(config, mail_url="log")))
    try:
        register(testapp, "alice@example.com")
        ask(testapp, "alice@example.com")
        deadline = time.monotonic() + 30
        while not [r for r in caplog.records if r.name == "widgetapi.mail"] and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop_all()
    [record] = [r for r in caplog.records if r.name == "widgetapi.mail"]
    token = TOKEN_LINE.findall(record.getMessage())[0]
    assert "Reset your widgetapi password" in record.getMessage()
    assert all(token not in r.getMessage() for r in caplog.records if r is not record)
    confirm(testapp, token)


def test_an_account_with_a_pending_reset_token_can_be_deleted(testapp: webtest.TestApp,
                                                              smtp: SmtpServer) -> None:
    headers = bearer(register(testapp, "alice@example.com"))
    token = reset_token(testapp, smtp, "alice@example.com")
    testapp.delete_json("/api/v1/auth/user", {"current_password": PASSWORD}, headers=headers, status=204)
    assert confirm(testapp, token, status=400) == INVALID
    with database.connection_context():
        assert PasswordReset.select().count() == 0  # gone with the account


@pytest.mark.parametrize(("password", "why"), [("password123", "is too common"),
                                               ("my alice-2026 passphrase", "must not contain your email")])
def test_the_new_password_keeps_to_the_password_rules(testapp: webtest.TestApp, smtp: SmtpServer,
                                                      password: str, why: str) -> None:
    register(testapp, "alice@example.com")
    token = reset_token(testapp, smtp, "alice@example.com")
    refused = confirm(testapp, token, password, status=400)
    assert refused["errors"] == {"new_password": why}
    confirm(testapp, token)  # the token still works with a good password
