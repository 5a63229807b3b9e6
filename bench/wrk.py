"""Driving a server with wrk, pinned to its own CPU, and reading what wrk measured.

wrk runs bench/wrk.lua, whose done() prints one line `WRK_RESULT {json}`: requests,
duration, errors and latency percentiles in microseconds. That line is all we read of
wrk's output, so its human-readable summary may change without breaking anything.
"""
from __future__ import annotations

import json
import shutil
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).with_name("wrk.lua")
MARKER = "WRK_RESULT "
# Slow answers (a login queued behind bcrypt) are measured, not dropped as timeouts.
TIMEOUT = "30s"

# What each tool is called and how to get it (Debian, Ubuntu).
TOOLS = {"wrk": "apt-get install wrk", "taskset": "apt-get install util-linux"}


class WrkFailed(Exception):
    """wrk did not run, or printed no result line."""


def missing_tools() -> list[str]:
    """How to install each tool the benchmark needs but cannot find (empty when none)."""
    return [f"{tool} is missing: {hint}" for tool, hint in TOOLS.items() if shutil.which(tool) is None]


@dataclass(frozen=True)
class Load:
    """What wrk sends: `method path`, with tokens and JSON bodies taken in turn from files
    (and paths, in turn with the tokens, when `paths` names a file of them)."""

    method: str
    path: str
    tokens: Path | None = None
    bodies: Path | None = None
    connections: int = 8
    paths: Path | None = None

    def first_path(self) -> str:
        return self.paths.read_text().split()[0] if self.paths else self.path


@dataclass(frozen=True)
class Result:
    """One wrk run. Latencies in milliseconds; errors are non-2xx/3xx answers plus
    socket errors and timeouts."""

    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rate(self) -> float:
        """Answers per second."""
        return self.requests / self.seconds if self.seconds else 0.0


def parse_result(output: str) -> Result:
    """The result in wrk's output: the last `WRK_RESULT {json}` line. Raises WrkFailed
    when there is none or it does not parse."""
    lines = [line for line in output.splitlines() if MARKER in line]
    if not lines:
        raise WrkFailed(f"wrk printed no result line:\n{output.strip()}")
    try:
        data = json.loads(lines[-1].split(MARKER, 1)[1])
        latency, errors = data["latency_us"], data["errors"]
        return Result(
            requests=int(data["requests"]),
            seconds=int(data["duration_us"]) / 1e6,
            errors=sum(int(count) for count in errors.values()),
            p50_ms=latency["p50"] / 1000, p90_ms=latency["p90"] / 1000,
            p99_ms=latency["p99"] / 1000, max_ms=latency["max"] / 1000)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise WrkFailed(f"cannot read wrk's result ({error}): {lines[-1]}") from None


@dataclass(frozen=True)
class Measurement:
    """The medians of several runs of one load, each figure on its own, and every run.
    Latencies come from the runs that got answers (None when none did: a slow load in a
    short run)."""

    rate: float
    p50_ms: float | None
    p99_ms: float | None
    errors: int
    runs: tuple[Result, ...]


def median(runs: Sequence[Result]) -> Measurement:
    if not runs:
        raise ValueError("no runs to take the median of")
    answered = [run for run in runs if run.requests]
    return Measurement(
        rate=statistics.median(run.rate for run in runs),
        p50_ms=statistics.median(run.p50_ms for run in answered) if answered else None,
        p99_ms=statistics.median(run.p99_ms for run in answered) if answered else None,
        errors=sum(run.errors for run in runs),
        runs=tuple(runs))


def command(cpu: int, base_url: str, load: Load, seconds: int) -> list[str]:
    """wrk with one thread and keep-alive connections, pinned to `cpu`."""
    return ["taskset", "-c", str(cpu), "wrk", "-t1", f"-c{load.connections}", f"-d{seconds}s",
            "--timeout", TIMEOUT, "-s", str(SCRIPT), base_url, "--",
            load.method, load.path, str(load.tokens or "-"), str(load.bodies or "-"), str(load.paths or "-")]


def start(cpu: int, base_url: str, load: Load, seconds: int) -> subprocess.Popen[str]:
    """Start a wrk run in the background; `finish` it."""
    return subprocess.Popen(command(cpu, base_url, load, seconds), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen[str], seconds: int) -> Result:
    """Wait for a run started `seconds` long, and read its result."""
    try:
        output, _ = process.communicate(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise WrkFailed(f"wrk did not finish within {seconds + 60} s") from None
    except BaseException:  # interrupted: leave no load running
        process.kill()
        process.communicate()
        raise
    if process.returncode:
        raise WrkFailed(f"wrk exited with status {process.returncode}:\n{output.strip()}")
    return parse_result(output)


def run(cpu: int, base_url: str, load: Load, seconds: int) -> Result:
    return finish(start(cpu, base_url, load, seconds), seconds)


def measure(cpu: int, base_url: str, load: Load, seconds: int, runs: int) -> Measurement:
    """The medians of `runs` runs of `seconds` each."""
    return median([run(cpu, base_url, load, seconds) for _ in range(runs)])
