"""The Quick start: `python dev.py serve`, `python dev.py test`, `python dev.py COMMAND ...`.

Needs only Python 3.10+. Makes a virtual environment in .venv and installs widgetapi into it
(again only when setup.cfg or setup.py change), then runs:

  python dev.py test [PYTEST ARGS]   ruff, mypy and pytest (installs the test tools too)
  python dev.py bench [ARGS]         the benchmark (bench/): `python dev.py bench --help`
  python dev.py spec                 write widgetapi/openapi.json again after openapi.yaml changed
  python dev.py serve [--port 9000]  the server, as `widgetapi serve`
  python dev.py COMMAND [ARGS]       any widgetapi command: init-db, create-admin EMAIL, seed,
                                     purge-tokens, --help, --version ...

Commands run in this directory, so the default database is always ./widgetapi.db here.
"""
from __future__ import annotations

import hashlib
import os
import shlex
import signal
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
INSTALL_INPUTS = ("setup.cfg", "setup.py")
# What each kind of command needs installed, each with its own stamp: serving needs the
# package and the PostgreSQL driver; the tests need their tools as well.
EXTRAS = {"serve": "postgres", "test": "test,postgres"}


def ensure_environment(kind: str) -> None:
    """Create .venv and install what `kind` needs in it, unless that is already up to date."""
    digest = hashlib.sha256(b"".join((ROOT / name).read_bytes() for name in INSTALL_INPUTS)).hexdigest()
    stamp = VENV / f"widgetapi-{kind}.sha256"
    if PYTHON.exists() and stamp.exists() and stamp.read_text() == digest:
        return
    if not PYTHON.exists():
        print(f"Creating a virtual environment in {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    what = "widgetapi and its test tools" if kind == "test" else "widgetapi"
    print(f"Installing {what} into it", flush=True)
    run([str(PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    run([str(PYTHON), "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[{EXTRAS[kind]}]"])
    stamp.write_text(digest)
    if kind == "test":  # the test install holds everything serving needs
        (VENV / "widgetapi-serve.sha256").write_text(digest)


def run(command: list[str], env: dict[str, str] | None = None) -> None:
    """Run a command here; Ctrl-C goes to it alone (it stops quietly), and its exit status
    becomes ours."""
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        code = process.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    if code:
        raise SystemExit(code if code > 0 else 128 - code)


def widgetapi(args: list[str]) -> None:
    # Hints the command prints ("run `... create-admin EMAIL`") say how it was started here.
    launcher = shlex.join([sys.orig_argv[0], sys.argv[0]])
    run([str(PYTHON), "-m", "widgetapi.cli", *args], env={**os.environ, "WIDGETAPI_LAUNCHER": launcher})


def test(args: list[str]) -> None:
    run([str(PYTHON), "-m", "ruff", "check", "widgetapi", "tests", "scripts", "bench", "dev.py", "setup.py"])
    run([str(PYTHON), "-m", "mypy", "widgetapi", "tests", "scripts", "bench", "dev.py"])
    run([str(PYTHON), "-m", "pytest", *args])


def bench(args: list[str]) -> None:
    """The benchmark (bench/): `python dev.py bench --help`."""
    run([str(PYTHON), "-m", "bench", *args])


def spec(args: list[str]) -> None:
    """widgetapi/openapi.json, the copy of openapi.yaml the app reads, written again."""
    run([str(PYTHON), "-m", "widgetapi.spec", *args])


# dev.py's own commands; any other goes to the widgetapi command
COMMANDS = {"test": test, "bench": bench, "spec": spec}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        return 0 if argv else 2
    try:
        if argv[0] in COMMANDS:
            ensure_environment("test")
            COMMANDS[argv[0]](argv[1:])
        else:
            ensure_environment("serve")
            widgetapi(argv)
    except KeyboardInterrupt:  # during an install
        print("\ninterrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
