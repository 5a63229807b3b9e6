"""The Quick start: `python dev.py serve` and `python dev.py test`.

Needs only Python 3.10+. Makes a virtual environment in .venv, installs widgetapi into it
with its test tools (again only when setup.cfg or setup.py change), then runs the server
or the whole test suite (ruff, mypy, pytest). Extra arguments go to the command, e.g.
`python dev.py serve --port 9000` or `python dev.py test -k widgets`.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / "widgetapi-install.sha256"
INSTALL_INPUTS = ("setup.cfg", "setup.py")


def ensure_environment() -> None:
    """Create .venv and install the package in it, unless it is already up to date."""
    digest = hashlib.sha256(b"".join((ROOT / name).read_bytes() for name in INSTALL_INPUTS)).hexdigest()
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text() == digest:
        return
    if not PYTHON.exists():
        print(f"Creating a virtual environment in {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    print("Installing widgetapi and its test tools into it", flush=True)
    run([str(PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    run([str(PYTHON), "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[test,postgres]"])
    STAMP.write_text(digest)


def run(command: list[str]) -> None:
    completed = subprocess.run(command, cwd=ROOT)
    if completed.returncode:
        raise SystemExit(completed.returncode)


def serve(args: list[str]) -> None:
    run([str(PYTHON), "-m", "widgetapi.cli", "serve", *args])


def test(args: list[str]) -> None:
    run([str(PYTHON), "-m", "ruff", "check", "widgetapi", "tests", "scripts", "bench", "dev.py", "setup.py"])
    run([str(PYTHON), "-m", "mypy", "widgetapi", "tests", "scripts", "bench", "dev.py"])
    run([str(PYTHON), "-m", "pytest", *args])


def bench(args: list[str]) -> None:
    """The benchmark (bench/): `python dev.py bench --help`."""
    run([str(PYTHON), "-m", "bench", *args])


COMMANDS = {"serve": serve, "test": test, "bench": bench}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__)
        return 2
    ensure_environment()
    COMMANDS[argv[0]](argv[1:])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
