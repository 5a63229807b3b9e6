"""openapi.yaml is valid OpenAPI, served the same as YAML and JSON, lists exactly the
routes the app has, and says the limits the server enforces."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import falcon
import falcon.inspect
import pytest
import webtest
import yaml
from conftest import server_path
from openapi_spec_validator import validate

from widgetapi import spec
from widgetapi.config import Config
from widgetapi.spec import load_spec
from widgetapi.validation import Validator

HTTP_METHODS = {"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD"}


def test_the_spec_is_valid_openapi() -> None:
    validate(load_spec())


def test_the_json_copy_the_app_reads_is_openapi_yaml() -> None:
    copy = Path(spec.__file__).with_name(spec.JSON_COPY).read_text(encoding="utf-8")
    source = (Path(__file__).resolve().parent.parent / "openapi.yaml").read_text(encoding="utf-8")
    assert copy == spec.json_copy(source), \
        "widgetapi/openapi.json differs from openapi.yaml: run `python dev.py spec` and commit both"


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
                found[(method.method, CONVERTER.sub("}", route.path))] = method.function_name
    return found


CONVERTER = re.compile(r":[a-z_]+}")  # {book_id:uuid} is {book_id} in the spec


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
    # register, login, create and update a widget, change the password, delete the account,
    # update a user, ask for a password reset and confirm it; JSON and form each
    assert checked == 22  # and create and update a book, JSON and form each


# --- the limits the server enforces, said in JSON Schema where it can say them ------------------

def component(name: str) -> dict:
    return load_spec()["components"]["schemas"][name]


# Values the server's formats accept (tests/test_validation.py has more of each).
HTTP_URLS = ["http://example.com", "HTTPS://EXAMPLE.COM/a?b=c#d", "Http://[::1]:8080/x",
             "https://user:pw@example.com/"]
DEADLINES = ["2099-12-31", "2099-12-31T00:00", "2099-12-31t10:00:00Z", "2099-12-31 10:00:00.1234567",
             "2099-12-31T10:00:00+05:30", "2099-12-31T10:00:00-0130", "2099-12-31T10:00:00z"]


@pytest.mark.parametrize("url", HTTP_URLS)
def test_the_info_url_pattern_keeps_every_url_the_format_accepts(url: str) -> None:
    assert re.search(component("InfoUrl")["pattern"], url)


@pytest.mark.parametrize("url", ["ftp://example.com", "example.com", "//example.com", " http://x.y",
                                 "javascript:alert(1)", "http:/example.com", ""])
def test_the_info_url_pattern_refuses_other_schemes(url: str) -> None:
    assert not re.search(component("InfoUrl")["pattern"], url)


@pytest.mark.parametrize("deadline", DEADLINES)
def test_the_deadline_pattern_keeps_every_shape_the_format_accepts(deadline: str) -> None:
    assert re.search(component("Deadline")["pattern"], deadline)


@pytest.mark.parametrize("deadline", ["tomorrow", "20991231", "2099-12-31Z", "2099-12-31T10", " 2099-12-31",
                                      "2099-12-31T10:00:00 UTC", "31/12/2099", "2099-1-1", "2099-12-31T"])
def test_the_deadline_pattern_refuses_other_shapes(deadline: str) -> None:
    assert not re.search(component("Deadline")["pattern"], deadline)


def test_custom_formats_keep_a_pattern_and_describe_what_only_they_check() -> None:
    """Generic tools ignore unknown formats: the pattern and limits are what they see."""
    for name, schema in load_spec()["components"]["schemas"].items():
        if schema.get("format") in ("http-url", "today-or-later", "password"):
            assert "pattern" in schema or "maxLength" in schema, name
            assert "format" in schema["description"], name


def test_the_registration_password_says_its_limits() -> None:
    password = component("NewPassword")
    assert (password["minLength"], password["maxLength"], password["format"]) == (8, 72, "password")
    registration = Validator(load_spec())
    assert registration.errors("/components/schemas/Registration",
                               {"email": "a@b.co", "password": "x" * 72}) == {}
    assert registration.errors("/components/schemas/Registration",
                               {"email": "a@b.co", "password": "x" * 73}) == {
        "password": "must be at most 72 bytes in UTF-8"}


def test_pages_type_their_items() -> None:
    """A generic Page with an untyped `items` makes client generators drop or mistype pages."""
    schemas = load_spec()["components"]["schemas"]
    assert "items" not in schemas["Page"]["properties"]
    for page, item in (("WidgetPage", "Widget"), ("UserPage", "User"), ("SessionPage", "Session")):
        base, own = schemas[page]["allOf"]
        assert base == {"$ref": "#/components/schemas/Page"}
        assert "items" in own["required"]
        typed = {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}}
        assert own["properties"]["items"] == typed


def test_the_widget_name_in_the_path_is_said_as_the_server_checks_it() -> None:
    spec = load_spec()
    assert spec["paths"]["/widgets/{name}"]["parameters"] == [
        {"$ref": "#/components/parameters/WidgetNameInPath"}]
    schema = spec["components"]["parameters"]["WidgetNameInPath"]["schema"]
    assert (schema["minLength"], schema["maxLength"], schema["pattern"]) == (1, 100, "^[A-Za-z0-9_-]+$")
