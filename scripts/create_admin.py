"""Create an administrator, or promote an existing user: python scripts/create_admin.py EMAIL

The same as `widgetapi create-admin EMAIL` (and `python dev.py create-admin EMAIL`); the
password comes from WIDGETAPI_ADMIN_PASSWORD or a prompt. Configuration (DATABASE_URL, ...)
comes from the environment. Run by a Python without widgetapi installed (say, right after
the Quick start), it runs itself through dev.py, in the project's .venv.
"""
from __future__ import annotations

import sys

from _widgetapi import run_command

if __name__ == "__main__":
    raise SystemExit(run_command("create-admin", sys.argv[1:]))
