"""openapi.yaml is valid OpenAPI, served the same as YAML and JSON, and lists exactly the
routes the app has."""
from __future__ import annotations

import dataclasses

import falcon
import falcon.inspect
import pytest
import webtest
import yaml
from conftest import server_path
from openapi_spec_validator import validate

from widgetapi.config import Config
from widgetapi.spec import load_spec
from widgetapi.validation import Validator

HTTP_METHODS = {"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD"}


def test_the_spec_is_valid_openapi() -> None:
    validate(load_spec())


def test_yaml_and_json_serve_the_same_document(testapp: webtest.TestApp) -> None:
    as_yaml = testapp.get("/api/v1/openapi.yaml", status=200)
    as_json = testapp.get("/api/v1/openapi.json", status=200)
    assert as_yaml.content_type == "application/yaml"
    assert as_json.content_type == "application/json"
    assert yaml.safe_load(as_yaml.text) == as_json.json
    assert as_json.json["openapi"].startswith("3.")


def app_responders(app: falcon.App) -> dict[tuple[str, str], str]:
    """(method, path) -> responder name for every responder the app's router has, Falcon's
    defaults left out."""
    found = {}
    for route in falcon.inspect.inspect_routes(app):
        for method in route.methods:
            if method.method in HTTP_METHODS and not method.internal:
                found[(method.method, route.path)] = method.function_name
    return found


def app_operations(app: falcon.App) -> set[tuple[str, str]]:
    """The documented operations: HEAD answered by a route's GET responder is said once, in
    the spec's description, rather than as a second operation on every path."""
    responders = app_responders(app)
    return {(method, path) for (method, path), name in responders.items()
            if not (method == "HEAD" and responders.get(("GET", path)) == name)}


def spec_operations() -> set[tuple[str, str]]:
    return {(method.upper(), (server_path(path) + path).rstrip("/") or "/")  # the index is /api/v1
            for path, item in load_spec()["paths"].items()
            for method in item if method.upper() in HTTP_METHODS}


@pytest.fixture
def config(config: Config) -> Config:
    return dataclasses.replace(config, metrics_enabled=True)  # so that /metrics is a route


def test_the_spec_documents_every_route_and_no_other(app: falcon.App) -> None:
    actual = app_operations(app)
    assert ("GET", "/api/v1/widgets/{name}") in actual  # the inspection sees the real routes
    assert ("GET", "/metrics") in actual
    assert ("GET", "/.well-known/jwks.json") in actual  # and those outside /api/v1
    assert spec_operations() == actual


def test_every_get_route_answers_head_with_the_same_responder(app: falcon.App) -> None:
    responders = app_responders(app)
    gets = {path: name for (method, path), name in responders.items() if method == "GET"}
    assert len(gets) >= 8
    assert {path: responders.get(("HEAD", path)) for path in gets} == gets


def test_every_operation_is_documented_for_users(app: falcon.App) -> None:
    spec = load_spec()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method.upper() not in HTTP_METHODS:
                continue
            assert operation.get("summary"), f"{method} {path} has no summary"
            assert operation.get("operationId"), f"{method} {path} has no operationId"
            assert operation["responses"], f"{method} {path} lists no responses"


def test_every_body_has_an_example_for_swagger_ui() -> None:
    """Swagger UI fills "Try it out" and shows responses from these examples."""
    spec = load_spec()
    components = spec["components"]

    def resolved(node: dict, kind: str) -> dict:
        ref = node.get("$ref", "")
        return components[kind][ref.rsplit("/", 1)[1]] if ref else node

    missing = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method.upper() not in HTTP_METHODS or path.startswith("/openapi."):
                continue
            bodies = {"request": resolved(operation.get("requestBody", {}), "requestBodies")}
            bodies.update({code: resolved(response, "responses")
                           for code, response in operation["responses"].items()})
            for where, body in bodies.items():
                for media_type, content in body.get("content", {}).items():
                    if media_type != "text/html" and not ("example" in content or "examples" in content):
                        missing.append(f"{method.upper()} {path} {where} {media_type}")
    assert missing == []


def test_request_examples_pass_the_apps_own_validation() -> None:
    """A newcomer who sends an example as it stands gets it accepted, not a 400."""
    spec = load_spec()
    validator = Validator(spec)
    checked = 0
    bodies = [op["requestBody"] for item in spec["paths"].values() for op in item.values()
              if isinstance(op, dict) and "requestBody" in op]
    for body in bodies:
        if "$ref" in body:
            body = validator.schema(body["$ref"].removeprefix("#"))
        for content in body["content"].values():
            pointer = content["schema"]["$ref"].removeprefix("#")
            assert validator.errors(pointer, content["example"]) == {}, content["example"]
            checked += 1
    assert checked == 8  # register, login, create and update a widget; JSON and form each
