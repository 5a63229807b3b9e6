"""What the scripts share: run a widgetapi command with this Python when it has widgetapi,
else through dev.py (which makes and uses the checkout's .venv)."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

DEV = Path(__file__).resolve().parent.parent / "dev.py"


def run_command(command: str, args: list[str]) -> int:
    if importlib.util.find_spec("widgetapi") is not None:
        from widgetapi.cli import main

        return main([command, *args])
    if not DEV.exists():
        print("widgetapi is not installed for this Python: pip install widgetapi", file=sys.stderr)
        return 2
    try:
        return subprocess.call([sys.executable, str(DEV), command, *args])
    except KeyboardInterrupt:  # dev.py and the command stop on their own
        return 130
