"""The application factory: database, middleware, routes and error handling on one page."""
from __future__ import annotations

from typing import Any

import falcon
import falcon.inspect

from widgetapi.auth import Authentication
from widgetapi.clients import ClientMiddleware
from widgetapi.config import Config
from widgetapi.cors import CORS
from widgetapi.db import ConnectionPerRequest, open_database
from widgetapi.errors import ERROR_HANDLERS, serialize_error
from widgetapi.keys import KeyRing
from widgetapi.logs import RequestLog, configure_logging
from widgetapi.media import json_handler
from widgetapi.metrics import Metrics, MetricsEndpoint
from widgetapi.passwords import limit_hashing
from widgetapi.purge import OpportunisticPurge
from widgetapi.recovery import KIND as PASSWORD_RESET_MAIL
from widgetapi.recovery import purge_old, reset_mail
from widgetapi.resources.account import CurrentUser, Password
from widgetapi.resources.auth import Login, Logout, LogoutEverywhere, Registration
from widgetapi.resources.books import BookId, Books, UserBooks
from widgetapi.resources.keys import PublicKeys
from widgetapi.resources.recovery import PasswordResetConfirm, PasswordResetRequest, UserPasswordReset
from widgetapi.resources.service import Health, Index, Spec
from widgetapi.resources.sessions import Sessions
from widgetapi.resources.ui import SwaggerUI, assets_directory
from widgetapi.resources.users import Users
from widgetapi.resources.widgets import Widgets
from widgetapi.sender import MailSender, StartMailSender
from widgetapi.spec import load_spec
from widgetapi.validation import Validator

API = "/api/v1"


class Router(falcon.routing.DefaultRouter):
    """Falcon's router, with HEAD answered by the GET responder of every route that has one
    (Falcon leaves the body out for HEAD): the same work, so a probe costs what a GET does."""

    def map_http_methods(self, resource: object, **kwargs: Any) -> Any:
        methods: dict[str, Any] = super().map_http_methods(resource, **kwargs)
        if "GET" in methods:
            methods.setdefault("HEAD", methods["GET"])
        return methods


falcon.inspect.register_router(Router)(falcon.inspect.inspect_compiled_router)  # for the spec tests


def create_app(config: Config) -> falcon.App:
    """A WSGI app serving the API from the database in `config`; models bind to it,
    so a process serves one database."""
    configure_logging(config.log_format)
    keys = KeyRing.from_config(config)  # first: a key that cannot be used stops everything
    db = open_database(config.database_url, max_connections=config.database_pool_size)
    validator = Validator(load_spec())
    limit_hashing(config.hash_concurrency, config.hash_waiting)

    sender = mail_sender(config)
    middleware: list[Any] = [
        ClientMiddleware(config.trusted_proxies, config.allowed_hosts),
        OpportunisticPurge(config.purge_interval_seconds),
        ConnectionPerRequest(db),
        Authentication(keys),
    ]
    if sender is not None:
        middleware.append(StartMailSender(sender))
    if config.cors_allow_origins:
        middleware.insert(0, CORS(config.cors_allow_origins))
    if config.metrics_enabled:
        middleware.insert(0, Metrics(db))
    middleware.insert(0, RequestLog())  # first in, last out: its line sees the final response
    app = falcon.App(middleware=middleware, router=Router())
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = json_handler()  # one format for every body
    app.req_options.strip_url_path_trailing_slash = True  # /api/v1/widgets/ is /api/v1/widgets

    app.add_route(f"{API}/auth/register", Registration(config, validator, keys))
    app.add_route(f"{API}/auth/login", Login(config, validator, keys))
    app.add_route(f"{API}/auth/user", CurrentUser(config, validator))
    app.add_route(f"{API}/auth/password", Password(config, validator, keys))
    app.add_route(f"{API}/auth/password-reset", PasswordResetRequest(config, validator, sender))
    app.add_route(f"{API}/auth/password-reset/confirm", PasswordResetConfirm(config, validator, keys, sender))
    app.add_route(f"{API}/auth/logout", Logout())
    app.add_route(f"{API}/auth/logout-all", LogoutEverywhere())
    sessions = Sessions(validator)
    app.add_route(f"{API}/auth/sessions", sessions)
    app.add_route(f"{API}/auth/sessions/{{session_id}}", sessions, suffix="item")
    widgets = Widgets(validator)
    app.add_route(f"{API}/widgets", widgets)
    app.add_route(f"{API}/widgets/{{name}}", widgets, suffix="item")
    app.router_options.converters["uuid"] = BookId
    books = Books(validator, config.max_books_per_user)
    app.add_route(f"{API}/books", books)
    app.add_route(f"{API}/books/{{book_id:uuid}}", books, suffix="item")
    app.add_route(f"{API}/users/{{public_id}}/books", UserBooks(validator))
    users = Users(validator)
    app.add_route(f"{API}/users", users)
    app.add_route(f"{API}/users/{{public_id}}", users, suffix="item")
    app.add_route(f"{API}/users/{{public_id}}/logout-all", users, suffix="logout_all")
    app.add_route(f"{API}/users/{{public_id}}/password-reset", UserPasswordReset(sender))
    app.add_route(API, Index(API))
    app.add_route(f"{API}/health", Health())
    spec = Spec()
    app.add_route(f"{API}/openapi.yaml", spec, suffix="yaml")
    app.add_route(f"{API}/openapi.json", spec, suffix="json")
    app.add_route(f"{API}/ui", SwaggerUI(f"{API}/ui", f"{API}/openapi.json"))
    app.add_static_route(f"{API}/ui", assets_directory())
    if config.metrics_enabled:
        app.add_route("/metrics", MetricsEndpoint(db, config.metrics_directory))
    app.add_route("/.well-known/jwks.json", PublicKeys(keys))

    app.set_error_serializer(serialize_error)
    for exception, handler in ERROR_HANDLERS:
        app.add_error_handler(exception, handler)
    return app


def mail_sender(config: Config) -> MailSender | None:
    """The process's outbox sender, started by the server or the first request; None without MAIL_URL."""
    if config.mail_url is None:
        return None
    return MailSender(config, {PASSWORD_RESET_MAIL: reset_mail(config)}, housekeeping=purge_old)
