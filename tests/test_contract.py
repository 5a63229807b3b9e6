"""The spec held to the app by schemathesis: every operation, as a user and as an
administrator, generated from openapi.yaml (valid and invalid input), every response
checked against it. A fixed seed and a bounded number of examples keep it quick and
repeatable.

WIDGETAPI_CONTRACT_EXAMPLES sets the examples per operation for a deeper run (say 500).

The requests go over HTTP to the test's app served by waitress: schemathesis's in-process
WSGI client drops form fields whose generated value is an object, so it would send a body
other than the one it reports and checks."""
from __future__ import annotations

import dataclasses
import os
import string
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import falcon
import pytest
import schemathesis
import webtest.http
from conftest import key_pair, server_path
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from widgetapi.config import Config
from widgetapi.password_policy import password_problem
from widgetapi.spec import load_spec

MAX_EXAMPLES = int(os.environ.get("WIDGETAPI_CONTRACT_EXAMPLES", "30"))

# The contract answers 400 to a schema-valid body whose current_password is wrong, or whose
# reset token was never sent (no schema can say which password or token is right), so the check
# that valid data is accepted does not apply.
CURRENT_PASSWORD_CHECKED = {"DELETE /auth/user", "POST /auth/password", "POST /auth/password-reset/confirm"}

# Nor to a write whose If-Match (or If-None-Match) names no current ETag: 412, by design (no
# schema can say which ETag is current).
PRECONDITIONS = {"if-match", "if-none-match"}

# The spec's own formats (widgetapi/validation.py), so that valid input gets generated too: each
# strategy draws from all the values its format accepts (the spec's descriptions say which).
schemathesis.openapi.format("http-url", st.builds(
    "{}://{}.example.{}/{}".format,
    st.sampled_from(["http", "https", "HTTP", "Https"]),
    st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=20),
    st.sampled_from(["com", "org", "net"]),
    st.text(string.ascii_letters + string.digits + "-_/", max_size=30)))
schemathesis.openapi.format("today-or-later", st.builds(
    lambda days, as_date, separator, offset: _deadline(days, as_date, separator, offset),
    st.integers(min_value=1, max_value=3650), st.booleans(), st.sampled_from(["T", "t", " "]),
    st.sampled_from(["", "Z", "z", "+02:00", "-0130"])))
# At most 72 bytes in UTF-8, which the spec's maxLength (72 characters) cannot say; and, as
# NewPassword's description says, neither a common password nor one holding the email's name
# (4 characters or more), which no schema can say: a non-ASCII character in every four keeps
# any generated (ASCII) email's name out, and the common ones are left out.
schemathesis.openapi.format("password", st.lists(
    st.tuples(st.text(max_size=3), st.characters(min_codepoint=0x80, exclude_categories=["Cs"])),
    min_size=2, max_size=36,
).map(lambda parts: "".join(text + character for text, character in parts)).filter(
    lambda password: 8 <= len(password) <= 72 and len(password.encode()) <= 72
    and password_problem(password, "") is None))


def _deadline(days: int, as_date: bool, separator: str, offset: str) -> str:
    # From tomorrow on, so a run across midnight (UTC) cannot make a valid date past.
    moment = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0) + timedelta(days=days)
    return moment.date().isoformat() if as_date else moment.isoformat(separator) + offset


@pytest.fixture
def config(config: Config, tmp_path: Path) -> Config:
    # Tokens that outlive the run: the conftest's five seconds are for expiry tests. EdDSA, so
    # that /.well-known/jwks.json has keys to check against the spec (its HS256 404 and HS256
    # tokens are tested elsewhere). Metrics on, so /metrics is checked too (its 404 is tested
    # elsewhere).
    private_key, _ = key_pair(tmp_path)
    return dataclasses.replace(config, token_expire_seconds=3600, jwt_algorithm="EdDSA",
                               jwt_private_key_file=str(private_key), metrics_enabled=True)


# The document the app serves (tests/test_spec.py holds the two equal). Loaded here rather
# than from the app, which only exists inside a test; each call goes to the test's server.
schema = schemathesis.openapi.from_dict(load_spec())
fuzz = settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
                suppress_health_check=list(HealthCheck))


@pytest.fixture
def base_url(app: falcon.App) -> Iterator[str]:
    server = webtest.http.StopableWSGIServer.create(app, host="127.0.0.1", port=0)
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.shutdown()


@schema.parametrize()
@fuzz
def test_the_app_keeps_to_its_spec_for_a_user(case: schemathesis.Case, base_url: str,
                                              user_headers: dict[str, str]) -> None:
    call_and_validate(case, base_url, user_headers)


@schema.parametrize()
@fuzz
def test_the_app_keeps_to_its_spec_for_an_administrator(case: schemathesis.Case, base_url: str,
                                                        admin_headers: dict[str, str]) -> None:
    call_and_validate(case, base_url, admin_headers)


def call_and_validate(case: schemathesis.Case, base_url: str, headers: dict[str, str]) -> None:
    if case.operation.schema.is_security_param_negated(case):
        headers = {}  # a negative case that leaves the token out on purpose
    conditional = {name.lower() for name in case.headers or {}} & PRECONDITIONS
    excluded = ([schemathesis.checks.positive_data_acceptance]
                if case.operation.label in CURRENT_PASSWORD_CHECKED or conditional else [])
    case.call_and_validate(base_url=base_url + server_path(case.path), headers=headers,
                           excluded_checks=excluded)
