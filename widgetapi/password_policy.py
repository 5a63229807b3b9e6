"""Which new passwords are refused besides the length rules (the contract's "Passwords"): the
commonly used ones, and those that contain the email's part before the `@`.

Registration, password change, password reset and `create-admin` all call
`password_problem`. The list of common passwords is the one zxcvbn ships (30,000 passwords
from leaked password lists, most used first; the package is maintained on PyPI), read
without importing zxcvbn, whose import builds ranked dictionaries of all its word lists (tens
of MB). It is read on first use, not at start-up, and only its entries of at least
MIN_PASSWORD_LENGTH characters are kept (11,611 of them): a shorter one never gets past the
length rule anyway. Kept as a frozenset: about 1.5 MB, one hash lookup a check.
"""
from __future__ import annotations

import ast
import functools
import importlib.util
from collections.abc import Mapping, MutableMapping
from pathlib import Path

TOO_COMMON = "is too common"
CONTAINS_EMAIL = "must not contain your email"
MIN_PASSWORD_LENGTH = 8  # the spec's minLength for every new password
MIN_EMAIL_PART = 4  # a shorter part before the `@` ("bob") is in too many good passwords

LIST_PACKAGE = "zxcvbn"
LIST_FILE = "frequency_lists.py"
LIST_NAME = "passwords"


def password_problem(password: str, email: str) -> str | None:
    """What is wrong with `password` as a new password for the account `email` (normalized,
    or "" when unknown or invalid): the error text for its field, or None. Case is ignored."""
    lowered = password.lower()
    if lowered in common_passwords():
        return TOO_COMMON
    local_part = email.partition("@")[0].lower()
    if len(local_part) >= MIN_EMAIL_PART and local_part in lowered:
        return CONTAINS_EMAIL
    return None


def add_password_problem(errors: MutableMapping[str, str], body: Mapping[str, object], field: str,
                         email: object) -> None:
    """Put `field`'s password_problem into `errors` (a validation error map), unless the field
    already has an error there or is not a string; `email` counts when it has no error."""
    password = body.get(field)
    if field in errors or not isinstance(password, str):
        return
    usable_email = email if isinstance(email, str) and "email" not in errors else ""
    problem = password_problem(password, usable_email)
    if problem:
        errors[field] = problem


@functools.cache
def common_passwords() -> frozenset[str]:
    """zxcvbn's common passwords of MIN_PASSWORD_LENGTH characters or more, lower-cased."""
    words = _zxcvbn_list(LIST_NAME)
    return frozenset(word.lower() for word in words if len(word) >= MIN_PASSWORD_LENGTH)


def _zxcvbn_list(name: str) -> list[str]:
    """One of the word lists in zxcvbn's frequency_lists.py, a generated file with a line
    `    "<name>": "<comma-separated words>".split(","),` per list. Only that line is read."""
    spec = importlib.util.find_spec(LIST_PACKAGE)  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {LIST_PACKAGE} package is not installed: pip install {LIST_PACKAGE}")
    path = Path(next(iter(spec.submodule_search_locations))) / LIST_FILE
    prefix = f'"{name}": '
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            entry = line.strip()
            if entry.startswith(prefix) and '".split(' in entry:
                literal = entry[len(prefix):entry.rindex(".split(")]
                return str(ast.literal_eval(literal)).split(",")
    raise RuntimeError(f"{path} has no {name!r} list in the expected form")
