"""The OpenAPI document. openapi.yaml is the single source of truth, served as written;
widgetapi/openapi.json is its JSON copy, which the app reads, so that no YAML parser is
imported (or kept in memory) by a server. `python dev.py spec` writes the copy again after
openapi.yaml changes, and tests/test_spec.py fails while the two differ."""
from __future__ import annotations

import functools
import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

SPEC_FILE = "openapi.yaml"
JSON_COPY = "openapi.json"
SOURCE = Path(__file__).resolve().parent.parent / SPEC_FILE  # in a source checkout


def spec_text() -> str:
    """The YAML as written. An installed package carries a copy made at build time;
    a source checkout reads the file at the top of the repository."""
    packaged = resources.files("widgetapi") / SPEC_FILE
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return SOURCE.read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def load_spec() -> dict[str, Any]:
    """The document, from its JSON copy."""
    spec: dict[str, Any] = json.loads((resources.files("widgetapi") / JSON_COPY).read_text(encoding="utf-8"))
    return spec


@functools.lru_cache(maxsize=1)
def spec_json() -> bytes:
    return json.dumps(load_spec(), indent=2).encode()


def json_copy(yaml_text: str) -> str:
    """The JSON copy of a YAML document, as openapi.json holds it (needs PyYAML, a test
    dependency: the server never parses YAML)."""
    import yaml

    return json.dumps(yaml.safe_load(yaml_text), indent=2) + "\n"


def main() -> int:
    """Write widgetapi/openapi.json from the checkout's openapi.yaml."""
    target = Path(__file__).with_name(JSON_COPY)
    text = json_copy(SOURCE.read_text(encoding="utf-8"))
    if target.is_file() and target.read_text(encoding="utf-8") == text:
        print(f"{target} is up to date")
        return 0
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target} from {SOURCE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
