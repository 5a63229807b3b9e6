"""Add sample widgets owned by an administrator: python scripts/seed.py [--count N]

The same as `widgetapi seed`. Configuration (DATABASE_URL, ...) comes from the environment.
"""
from __future__ import annotations

import sys

from widgetapi.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["seed", *sys.argv[1:]]))
