"""One connection per request: returned after every request, and a failed request's
open transaction rolled back rather than handed to the next one."""
from __future__ import annotations

import falcon
import webtest
from conftest import register

from widgetapi.db import database
from widgetapi.models import User


class FailsMidTransaction:
    """A responder that starts a transaction, writes, and fails without finishing it."""

    auth_required = False

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        transaction = database.atomic()
        transaction.__enter__()
        User.update(admin=True).execute()
        raise falcon.HTTPConflict(description="gave up half way")


class LeavesTransactionOpen:
    """A responder that succeeds but forgets to commit."""

    auth_required = False

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        database.atomic().__enter__()
        User.update(admin=True).execute()
        resp.media = {"status": "success"}


def admins() -> list[str]:
    with database.connection_context():
        return [u.email for u in User.select().where(User.admin == True)]  # noqa: E712


def test_a_failed_request_is_rolled_back_and_the_next_one_works(
        app: falcon.App, testapp: webtest.TestApp) -> None:
    register(testapp, "alice@example.com")
    app.add_route("/test/fail", FailsMidTransaction())
    response = testapp.post("/test/fail", status=409)
    assert response.json == {"status": "fail", "message": "gave up half way"}
    assert database.is_closed()
    assert admins() == []
    register(testapp, "bob@example.com")
    assert {u.email for u in User.select()} == {"alice@example.com", "bob@example.com"}


def test_a_transaction_left_open_is_rolled_back_not_kept(app: falcon.App, testapp: webtest.TestApp) -> None:
    register(testapp, "alice@example.com")
    app.add_route("/test/open", LeavesTransactionOpen())
    testapp.post("/test/open", status=200)
    assert database.is_closed()
    assert admins() == []


def test_every_request_returns_its_connection(app: falcon.App, testapp: webtest.TestApp) -> None:
    headers = {"Authorization": f"Bearer {register(testapp, 'alice@example.com')}"}
    for path, status in (("/api/v1/auth/user", 200), ("/api/v1/widgets/nope", 404),
                         ("/api/v1/health", 200), ("/api/v1/widgets?page=0", 400)):
        testapp.get(path, headers=headers, status=status)
        assert database.is_closed(), path
