"""gunicorn settings for widgetapi: `gunicorn -c python:widgetapi.gunicorn_conf widgetapi.wsgi:app`.

- The app is loaded once, in the master, before the workers are forked (`preload_app`): the
  database is prepared once, and a configuration the server cannot run with stops gunicorn
  with one line and exit status 2 instead of workers failing to boot over and over.
- Forwarded headers follow TRUSTED_PROXIES, as under waitress: gunicorn takes the scheme
  from `X-Forwarded-Proto` only from those peers (by default it trusts 127.0.0.1 and three
  headers), and the app does the rest (widgetapi/clients.py).
- Metrics (METRICS_ENABLED=true) add up across workers: prometheus_client's multiprocess
  mode keeps each worker's counts in files under PROMETHEUS_MULTIPROC_DIR (a new temporary
  directory unless you set one; it is emptied at start) and forgets a worker's gauges when it
  exits.

Other settings still come from the command line (`--workers`, `--threads`, `--bind`, ...).
"""
from __future__ import annotations

import atexit
import ipaddress
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from widgetapi.config import ConfigError, parse_trusted_proxies

preload_app = True


def _forwarded_allow_ips() -> str:
    """TRUSTED_PROXIES as gunicorn writes them (strict CIDR ranges); none when it is
    malformed, which the app then reports in one line as it loads."""
    try:
        proxies = parse_trusted_proxies(os.environ.get("TRUSTED_PROXIES", ""))
    except ConfigError:
        return ""
    return ",".join(str(ipaddress.ip_network(proxy, strict=False)) for proxy in proxies)


forwarded_allow_ips = _forwarded_allow_ips()
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}

# prometheus_client chooses its multiprocess mode when it is first imported: the variable
# must be set before the app is loaded.
_created_directory = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
if _created_directory:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="widgetapi-metrics-")
_directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
_directory.mkdir(parents=True, exist_ok=True)
for _stale in _directory.glob("*.db"):  # counts of an earlier run would add up with ours
    _stale.unlink()


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, str(_directory))


_master = os.getpid()


def _remove_directory() -> None:
    if os.getpid() == _master:  # workers inherit this hook; only the master may clean up
        shutil.rmtree(_directory, ignore_errors=True)


if _created_directory:
    atexit.register(_remove_directory)
