"""The OpenAPI document: read once from openapi.yaml, the single source of truth."""
from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

SPEC_FILE = "openapi.yaml"


def spec_text() -> str:
    """The YAML as written. An installed package carries a copy made at build time;
    a source checkout reads the file at the top of the repository."""
    packaged = resources.files("widgetapi") / SPEC_FILE
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parent.parent / SPEC_FILE).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def load_spec() -> dict[str, Any]:
    return yaml.safe_load(spec_text())


@functools.lru_cache(maxsize=1)
def spec_json() -> bytes:
    return json.dumps(load_spec(), indent=2).encode()
