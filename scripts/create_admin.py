"""Create an administrator, or promote an existing user: python scripts/create_admin.py EMAIL

The same as `widgetapi create-admin EMAIL`; the password comes from WIDGETAPI_ADMIN_PASSWORD
or a prompt. Configuration (DATABASE_URL, ...) comes from the environment.
"""
from __future__ import annotations

import sys

from widgetapi.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["create-admin", *sys.argv[1:]]))
