"""`python dev.py bench --callgrind`: instructions and GIL releases per request, counted by
valgrind's callgrind in one process (bench/inprocess.py), so the figures repeat on a busy
machine where wall-clock rates do not.

A GIL release is a call of PyEval_SaveThread: the interpreter lets other threads run while
this one waits in C (sqlite3 does it for each step and each column it reads; a write to the
log does it too). Under a threaded server each is a chance of a thread switch.
"""
from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from bench import inprocess, seed
from bench.scenarios import CURRENT_USER, FIRST_PAGE, ROOT, WIDGET, WIDGETS, server_environment

GIL_RELEASE = "PyEval_SaveThread"
ENDPOINTS = {"widget": WIDGET, "list": FIRST_PAGE, "user": CURRENT_USER,
             # measured when the app has books; {book} is one of the token's user's books
             "book": f"{inprocess.BOOKS}/{{book}}", "books": f"{inprocess.BOOKS}?page=1&per_page=10"}
INSTALL = "valgrind is missing: apt-get install valgrind (Debian and Ubuntu)"


class CallgrindFailed(Exception):
    """valgrind or the requests under it failed; the message says how."""


@dataclass(frozen=True)
class Count:
    instructions: int
    gil_releases: int


def missing_tools() -> list[str]:
    return [] if shutil.which("valgrind") else [INSTALL]


def parse(text: str, names: dict[str, str] | None = None) -> Count:
    """Instructions (Ir) and calls of PyEval_SaveThread in one callgrind output file.
    callgrind names a function once, `(id) name` (in a `fn=` or `cfn=` line, not always the
    first that mentions it), and by `(id)` alone elsewhere, also in the files it writes
    later: parse those in order with the same `names`."""
    names = {} if names is None else names
    lines = text.splitlines()
    for line in lines:
        if line.startswith(("fn=", "cfn=")):
            _name(line.partition("=")[2], names)
    total, releases, callee = 0, 0, ""
    for line in lines:
        if line.startswith("summary:"):  # the events of the time range ("totals:" adds what
            total = int(line.split()[1])  # was under way when the counters were zeroed)
        elif line.startswith("cfn="):
            callee = _name(line[4:], names)
        elif line.startswith("calls=") and callee == GIL_RELEASE:
            releases += int(line[6:].split()[0])
    return Count(total, releases)


def _name(field: str, names: dict[str, str]) -> str:
    """A function name from `(id) name` (remembered), `(id)` or a plain name."""
    match = re.fullmatch(r"\((\d+)\)(?: (.*))?", field.strip())
    if not match:
        return field.strip()
    key, name = match.groups()
    if name is not None:
        names[key] = name
    return names.get(key, "")


def dumps(directory: Path) -> list[Path]:
    """callgrind's files in the order written: callgrind.out.<pid>.1, .2, ..."""
    files = [path for path in directory.glob("callgrind.out.*.*") if path.suffix[1:].isdigit()]
    return sorted(files, key=lambda path: int(path.suffix[1:]))


def command(out: Path, requests: int, endpoints: Mapping[str, str], directory: Path) -> list[str]:
    return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={directory}/callgrind.out.%p",
            f"--zero-before={inprocess.MARK_START}", f"--dump-before={inprocess.MARK_END}",
            "--dump-instr=no", "--compress-pos=no",
            # By its path, not `-m`: the current directory must not come before PYTHONPATH
            # (--source), and the script imports nothing from bench/.
            sys.executable, inprocess.__file__, "--requests", str(requests), "--out", str(out),
            *(argument for name, path in endpoints.items() for argument in ("--endpoint", f"{name}={path}"))]


def measure(requests: int, source: Path | None, keep: Path | None = None) -> dict[str, Count]:
    """Each endpoint's instructions and GIL releases per request, over `requests` warm
    requests, in a fresh SQLite database seeded as the benchmark seeds it."""
    with tempfile.TemporaryDirectory(prefix="widgetapi-callgrind-") as temporary:
        directory = keep or Path(temporary)
        directory.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{directory / 'callgrind.db'}"
        # The benchmark's server settings; bcrypt at its cheapest, as only reads are counted.
        env = {**server_environment(url, source, secrets.token_urlsafe(48)), "BCRYPT_LOG_ROUNDS": "4",
               "PYTHONHASHSEED": "0"}
        seed.prepare([str(Path(sys.executable).with_name("widgetapi"))], env, WIDGETS, directory / "seed.log")
        out = directory / "measured.json"
        log = directory / "inprocess.log"
        with log.open("w") as output:
            completed = subprocess.run(command(out, requests, ENDPOINTS, directory),
                                       env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
        if completed.returncode:
            raise CallgrindFailed(f"valgrind exited with {completed.returncode}:\n{log.read_text()[-3000:]}")
        return _per_request(directory, out, requests)


def _per_request(directory: Path, out: Path, requests: int) -> dict[str, Count]:
    written = json.loads(out.read_text())
    order, statuses = written["measured"], written["statuses"]
    names: dict[str, str] = {}
    counts = [parse(path.read_text(), names) for path in dumps(directory)]
    if len(counts) != len(order) + 1:
        raise CallgrindFailed(f"expected {len(order) + 1} callgrind dumps in {directory}, "
                              f"found {len(counts)}")
    marks, *measured = counts
    results = {}
    for key, count in zip(order, measured, strict=True):
        if set(statuses[key]) != {200}:
            raise CallgrindFailed(f"GET {ENDPOINTS[key]} answered {sorted(set(statuses[key]))}")
        results[key] = Count(round((count.instructions - marks.instructions) / requests),
                             round((count.gil_releases - marks.gil_releases) / requests))
    return results


def table(results: dict[str, Count], requests: int, commit: str) -> Iterator[str]:
    yield f"widgetapi instruction counts ({commit}), in-process, SQLite, {requests} warm requests each"
    labels = {key: f"GET {ENDPOINTS[key]}" for key in results}
    width = max(len(label) for label in labels.values()) + 2
    yield f"{'per request':<{width}}{'instructions':>14}{'GIL releases':>14}"
    for key, count in results.items():
        yield f"{labels[key]:<{width}}{count.instructions:>14,}{count.gil_releases:>14}"
