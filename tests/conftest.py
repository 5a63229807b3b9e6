"""Fixtures: a fresh database and app per test, and helpers to get tokens.

The suite runs on a temporary SQLite file by default; set WIDGETAPI_TEST_DATABASE_URL
(e.g. postgresql://postgres@127.0.0.1:5432/test) to run it on PostgreSQL instead.
"""
from __future__ import annotations

import os
from collections.abc import Iterator

import falcon
import pytest
import webtest

from widgetapi import operations
from widgetapi.app import create_app
from widgetapi.config import Config
from widgetapi.db import database
from widgetapi.models import MODELS, create_tables

PASSWORD = "correct horse battery"
SECRET_KEY = "test-secret-key-that-is-long-enough-for-hs256"


@pytest.fixture
def database_url(tmp_path) -> str:
    return os.environ.get("WIDGETAPI_TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def config(database_url: str) -> Config:
    return Config(env="testing", database_url=database_url, secret_key=SECRET_KEY,
                  token_expire_seconds=5, bcrypt_log_rounds=4)


@pytest.fixture
def app(config: Config) -> Iterator[falcon.App]:
    application = create_app(config)
    with database.connection_context():
        database.drop_tables(MODELS, safe=True)
    create_tables()
    yield application
    with database.connection_context():
        database.drop_tables(MODELS, safe=True)


@pytest.fixture
def testapp(app: falcon.App) -> webtest.TestApp:
    return webtest.TestApp(app)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def register(testapp: webtest.TestApp, email: str, password: str = PASSWORD) -> str:
    """Register through the API and return the access token."""
    response = testapp.post_json("/api/v1/auth/register", {"email": email, "password": password}, status=201)
    return response.json["access_token"]


def login(testapp: webtest.TestApp, email: str, password: str = PASSWORD) -> str:
    response = testapp.post_json("/api/v1/auth/login", {"email": email, "password": password}, status=200)
    return response.json["access_token"]


@pytest.fixture
def user_headers(testapp: webtest.TestApp) -> dict[str, str]:
    return bearer(register(testapp, "user@example.com"))


@pytest.fixture
def admin_headers(testapp: webtest.TestApp, config: Config) -> dict[str, str]:
    operations.create_admin(config, "admin@example.com", lambda: PASSWORD)
    return bearer(login(testapp, "admin@example.com"))
