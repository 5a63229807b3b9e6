"""What a server process imports: what serving needs, and nothing a command or a disabled
feature alone needs (each import costs memory in every process, for as long as it runs)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Builds the app as `widgetapi serve` does, serves a request, and says what was imported.
PROBE = textwrap.dedent("""
    import io, json, sys
    import widgetapi.cli, widgetapi.server
    from widgetapi.app import create_app
    from widgetapi.config import Config
    from widgetapi import operations
    config = Config(database_url=sys.argv[1], metrics_enabled=sys.argv[2] == "on")
    app = create_app(config)
    operations.init_db()
    statuses = []
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/api/v1/openapi.json", "QUERY_STRING": "",
               "SERVER_NAME": "localhost", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
               "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr}
    app(environ, lambda status, headers, exc_info=None: statuses.append(status))
    print(json.dumps({"modules": sorted(sys.modules), "statuses": statuses}))
""")


def imported(tmp_path: Path, metrics: str) -> set[str]:
    result = subprocess.run([sys.executable, "-c", PROBE, f"sqlite:///{tmp_path / 'probe.db'}", metrics],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.splitlines()[-1])
    assert probe["statuses"] == ["200 OK"]
    return set(probe["modules"])


@pytest.mark.parametrize("module", ["yaml", "prometheus_client"])
def test_a_server_imports_no_yaml_nor_metrics_it_does_not_serve(tmp_path: Path, module: str) -> None:
    assert module not in imported(tmp_path, "off")


def test_a_server_with_metrics_imports_prometheus_client(tmp_path: Path) -> None:
    modules = imported(tmp_path, "on")
    assert "prometheus_client" in modules and "yaml" not in modules
