"""The built wheel carries the OpenAPI spec, and an installed copy reads its own."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import on_postgresql

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


def readme_install_blocks() -> list[str]:
    """The shell blocks of the README's "2. Install" step."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### 2. Install", 1)[1].split("\n### ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) == 2, "the README installs from the checkout or from a wheel"
    return [str(block) for block in blocks]


@pytest.mark.slow
@pytest.mark.skipif(on_postgresql(), reason="no database involved: runs once, in the SQLite run")
@pytest.mark.parametrize("block", [0, 1], ids=["from the checkout", "from a wheel"])
def test_the_readme_install_step_works_as_printed(tmp_path: Path, block: int) -> None:
    """Each way the README installs widgetapi, run as printed in a copy of the checkout (with
    the environment in the test's directory instead of /opt/widgetapi): the command works,
    from anywhere, with the PostgreSQL driver."""
    source, environment = tmp_path / "checkout", tmp_path / "opt-widgetapi"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCES)
    script = readme_install_blocks()[block].replace("/opt/widgetapi", str(environment))
    env = {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=source, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    shutil.rmtree(source)  # what is installed must not need the checkout
    probe = subprocess.run([str(environment / "bin" / "python"), "-c",
                            "import psycopg, widgetapi; print(widgetapi.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    assert Path(probe.stdout.strip()).is_relative_to(environment)
    database = tmp_path / "installed.db"
    init = subprocess.run([str(environment / "bin" / "widgetapi"), "init-db"], cwd=tmp_path,
                          env={**env, "WIDGETAPI_ENV": "development", "DATABASE_URL": f"sqlite:///{database}"},
                          capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, init.stderr
    assert str(database) in init.stdout
