"""Keeping the sessions table small: `widgetapi purge-tokens` and the background purge."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import falcon
import pytest
import webtest
from conftest import bearer, register

from widgetapi import cli
from widgetapi.app import create_app
from widgetapi.config import Config
from widgetapi.db import database
from widgetapi.models import Session, User
from widgetapi.purge import CLOCK_SKEW_MARGIN, OpportunisticPurge
from widgetapi.timeutil import utcnow


def session_ids() -> set[str]:
    """The jti of every session in the table."""
    with database.connection_context():
        return {session.jti for session in Session.select()}


def fill_sessions() -> None:
    """One session long expired, one expired within the clock-skew margin, one still valid."""
    now = utcnow()
    with database.connection_context():
        user = User.create(email="sessions@example.com", password_hash="x" * 60)
        for jti, expires_at in [("long-expired", now - CLOCK_SKEW_MARGIN - timedelta(minutes=1)),
                                ("just-expired", now - CLOCK_SKEW_MARGIN + timedelta(minutes=1)),
                                ("still-valid", now + timedelta(minutes=30))]:
            Session.create(jti=jti, user=user, issued_at=now - timedelta(hours=1), expires_at=expires_at)


def test_purge_tokens_command_removes_only_entries_expired_beyond_the_margin(
        app: falcon.App, config: Config, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    fill_sessions()
    monkeypatch.setenv("DATABASE_URL", config.database_url)
    assert cli.main(["purge-tokens"]) == 0
    assert "Removed 1 expired sessions" in capsys.readouterr().out
    assert session_ids() == {"just-expired", "still-valid"}


def test_a_purge_keeps_logged_out_tokens_refused(app: falcon.App, testapp: webtest.TestApp,
                                                 config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    headers = bearer(register(testapp, "alice@example.com"))
    testapp.post("/api/v1/auth/logout", headers=headers, status=200)
    monkeypatch.setenv("DATABASE_URL", config.database_url)
    assert cli.main(["purge-tokens"]) == 0
    testapp.get("/api/v1/auth/user", headers=headers, status=401)


def wait_until(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


def test_the_server_purges_in_the_background_after_a_response(app: falcon.App, config: Config) -> None:
    eager = webtest.TestApp(create_app(replace(config, purge_interval_seconds=0)))
    fill_sessions()
    eager.get("/api/v1/health", status=200)
    wait_until(lambda: "long-expired" not in session_ids())
    assert session_ids() == {"just-expired", "still-valid"}


def test_background_purge_runs_at_most_once_per_interval(app: falcon.App) -> None:
    fill_sessions()
    purge = OpportunisticPurge(interval=3600)
    purge.process_response(None, None, None, True)  # type: ignore[arg-type]
    purge.wait()
    assert "long-expired" in session_ids()  # the interval has not passed since it started

    eager = OpportunisticPurge(interval=0)
    eager.process_response(None, None, None, True)  # type: ignore[arg-type]
    eager.wait()
    assert session_ids() == {"just-expired", "still-valid"}
