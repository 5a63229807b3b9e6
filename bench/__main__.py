"""python -m bench (or `python dev.py bench`): measure widgetapi against a bare Falcon app."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import callgrind, report, scenarios, seed, wrk
from bench.scenarios import SCENARIOS, Bench, ScenarioFailed, Settings

DESCRIPTION = """\
Seeds a fresh database, starts `widgetapi serve --threads 4` and a bare Falcon app under the
same waitress, both pinned to one CPU, drives them with wrk pinned to another, and prints
req/s, p50 and p99 of each scenario and its ratio to the bare app (the ceiling) in the same
run. Scenarios: widget (GET /widgets/{name}), list (GET /widgets?per_page=10), book
(GET /books/{id}, each user their own), books (GET /books?per_page=10), user
(GET /auth/user), login (POST /auth/login at bcrypt cost 12), flood (widget reads during a
4-client login flood), scale (first and last page of the list with 100,000 widgets and
1,000,000 revoked tokens or ended sessions). Needs Linux, 2 CPUs, wrk and taskset."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python dev.py bench", description=DESCRIPTION)
    parser.add_argument("--duration", type=int, default=10, metavar="SECONDS",
                        help="length of each wrk run, 1 to 600 (default: 10)")
    parser.add_argument("--runs", type=int, default=2,
                        help="runs of each measurement; the table shows their medians (default: 2)")
    parser.add_argument("--only", action="append", choices=SCENARIOS, metavar="NAME",
                        help=f"run this scenario (and what it is compared with); repeatable; one of "
                             f"{', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--database-url", metavar="URL",
                        help="a PostgreSQL database for the benchmark to create, use and drop, e.g. "
                             "postgresql://postgres@127.0.0.1:5432/widgetapi_bench (it must not exist) "
                             "(default: SQLite files in a temporary directory)")
    parser.add_argument("--source", type=Path, metavar="DIR",
                        help="benchmark the widgetapi package in this checkout (e.g. a git worktree of "
                             "an older commit), run with PYTHONPATH=DIR in this environment "
                             "(default: the installed one)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results to FILE as JSON")
    parser.add_argument("--callgrind", action="store_true",
                        help="instead: count instructions and GIL releases per request of the widget, list "
                             "and user reads (and the book reads, when the app has books), in-process under "
                             "valgrind's callgrind (SQLite; repeatable on a busy machine; needs valgrind)")
    parser.add_argument("--requests", type=int, default=100, metavar="N",
                        help="with --callgrind: warm requests counted per endpoint (default: 100)")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="with --callgrind: keep callgrind's files in DIR (for callgrind_annotate)")
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= 10_000:
        parser.error("--requests must be from 1 to 10000")
    if not 1 <= args.duration <= 600:
        parser.error("--duration must be from 1 to 600 seconds")
    if not 1 <= args.runs <= 20:
        parser.error("--runs must be from 1 to 20")
    if args.database_url and not (seed.is_postgresql(args.database_url)
                                  and urlsplit(args.database_url).path.strip("/")):
        parser.error("--database-url must be a postgresql:// URL naming a database (SQLite is the default)")
    if args.source and not (args.source / "widgetapi" / "__init__.py").is_file():
        parser.error(f"--source {args.source}: no widgetapi package there")
    return args


def cpus() -> tuple[int, int] | None:
    """The first two CPUs this process may use: one for the servers, one for wrk."""
    allowed = sorted(os.sched_getaffinity(0))
    return (allowed[0], allowed[1]) if len(allowed) >= 2 else None


def describe_source(source: Path | None) -> tuple[str, str]:
    """Where the widgetapi under test comes from, and its commit (+ "dirty" when changed)."""
    import widgetapi

    directory = source.resolve() if source else Path(widgetapi.__file__).resolve().parent.parent
    git = ["git", "-C", str(directory)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if commit.returncode:
        return str(directory), "not a git checkout"
    changed = subprocess.run([*git, "status", "--porcelain", "--", "widgetapi"],
                             capture_output=True, text=True).stdout.strip()
    return str(directory), commit.stdout.strip() + (" with uncommitted changes" if changed else "")


def count_instructions(args: argparse.Namespace) -> int:
    missing = callgrind.missing_tools()
    if missing:
        print("bench: " + "; ".join(missing), file=sys.stderr)
        return 2
    source, commit = describe_source(args.source)
    progress = "bench: counting instructions under callgrind (a few minutes)"
    print(progress, file=sys.stderr, flush=True)
    try:
        results = callgrind.measure(args.requests, args.source, args.keep)
    except (callgrind.CallgrindFailed, seed.SeedingFailed) as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    print("\n".join(callgrind.table(results, args.requests, f"{source}, {commit}")))
    if args.json:
        counts = {key: {"instructions": count.instructions, "gil_releases": count.gil_releases}
                  for key, count in results.items()}
        args.json.write_text(json.dumps({"source": source, "commit": commit, "requests": args.requests,
                                         "per_request": counts}, indent=2) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.callgrind:
        return count_instructions(args)
    missing = wrk.missing_tools()
    if missing:
        print("bench: " + "; ".join(missing) + " (Debian and Ubuntu)", file=sys.stderr)
        return 2
    if not Path(scenarios.widgetapi_command()[0]).exists():
        print(f"bench: no widgetapi command beside {sys.executable}: run `python dev.py bench`",
              file=sys.stderr)
        return 2
    pair = cpus()
    if pair is None:
        print("bench: needs two CPUs (one for the servers, one for wrk)", file=sys.stderr)
        return 2
    settings = Settings(duration=args.duration, runs=args.runs, scenarios=scenarios.selected(args.only),
                        database_url=args.database_url, source=args.source,
                        server_cpu=pair[0], load_cpu=pair[1])
    source, commit = describe_source(args.source)
    meta: dict[str, Any] = {
        "started_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "source": source, "commit": commit,
        "database": report.masked(args.database_url) if args.database_url else "SQLite",
        "duration": args.duration, "runs": args.runs, "threads": scenarios.THREADS,
        "server_cpu": pair[0], "load_cpu": pair[1], "scenarios": list(settings.scenarios),
    }
    with tempfile.TemporaryDirectory(prefix="widgetapi-bench-") as directory:
        try:
            results = Bench(settings, Path(directory)).run()
        except (ScenarioFailed, seed.SeedingFailed, wrk.WrkFailed, RuntimeError) as error:
            print(f"bench: {error}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:  # the servers and databases are gone already
            print("bench: interrupted", file=sys.stderr)
            return 130
    print(report.table(results, meta))
    if args.json:
        args.json.write_text(json.dumps(report.as_json(results, meta), indent=2) + "\n")
        print(f"Results written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
