"""The built wheel carries the OpenAPI spec, and an installed copy reads its own."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
# Build from a copy so that a build/ left over in the checkout cannot slip stale files
# into the wheel, and the test leaves nothing behind in the checkout.
NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", ".tox", "build", "dist", "*.egg-info", "__pycache__",
                                     ".mypy_cache", ".ruff_cache", ".pytest_cache", "test-artifacts",
                                     "*.db", "*.db-*")

# Runs in the installed copy: which widgetapi was imported, which files load_spec() opened,
# and whether it parsed YAML to do so.
PROBE = textwrap.dedent("""
    import json, sys
    opened = []
    sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == "open" else None)
    import widgetapi, widgetapi.spec
    spec = widgetapi.spec.load_spec()
    served = widgetapi.spec.spec_text()
    print(json.dumps({"package": widgetapi.__file__, "spec": spec, "yaml": "yaml" in sys.modules,
                      "opened": [path for path in opened if path.endswith(("openapi.yaml", "openapi.json"))],
                      "served": served}))
""")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCES)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "-w", str(work / "dist"), str(source)], check=True, timeout=300)
    (built,) = (work / "dist").glob("widgetapi-*.whl")
    return built


def test_wheel_carries_the_spec(wheel: Path):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert archive.read("widgetapi/openapi.yaml") == (ROOT / "openapi.yaml").read_bytes()
        assert archive.read("widgetapi/openapi.json") == (ROOT / "widgetapi" / "openapi.json").read_bytes()
    assert "widgetapi/py.typed" in names
    assert "widgetapi/resources/widgets.py" in names
    assert not any(name.startswith(("tests/", "scripts/")) for name in names)


def test_installed_package_reads_its_own_spec(wheel: Path, tmp_path: Path):
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
                    str(wheel)], check=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout)
    assert Path(probe["package"]).resolve().is_relative_to(site.resolve())
    assert [Path(path).name for path in probe["opened"]] == ["openapi.json", "openapi.yaml"]
    assert all(Path(path).resolve().is_relative_to(site.resolve()) for path in probe["opened"])
    assert probe["spec"] == yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))
    assert probe["served"] == (ROOT / "openapi.yaml").read_text(encoding="utf-8")
    assert probe["yaml"] is False
