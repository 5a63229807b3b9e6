"""Add sample widgets owned by an administrator: python scripts/seed.py [--count N]

The same as `widgetapi seed` (and `python dev.py seed`). Configuration (DATABASE_URL, ...)
comes from the environment. Run by a Python without widgetapi installed (say, right after
the Quick start), it runs itself through dev.py, in the project's .venv.
"""
from __future__ import annotations

import sys

from _widgetapi import run_command

if __name__ == "__main__":
    raise SystemExit(run_command("seed", sys.argv[1:]))
