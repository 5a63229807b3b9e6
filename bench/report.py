"""The benchmark's results as a table for people and as JSON for comparing runs."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.scenarios import Results, Row

HEADERS = ("scenario", "req/s", "p50 ms", "p99 ms", "x ceiling", "x 100 widgets", "errors")


def masked(url: str) -> str:
    """A database URL with its password as ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    host = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def _ratio(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.2f}" if value >= 0.1 else f"{value:.2g}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _cells(row: Row) -> list[str]:
    measured = row.measurement
    return [row.label, f"{measured.rate:,.0f}" if measured.rate >= 100 else f"{measured.rate:.1f}",
            _ms(measured.p50_ms), _ms(measured.p99_ms), _ratio(row.to_ceiling),
            _ratio(row.to_small), str(measured.errors)]


def table(results: Results, meta: Mapping[str, Any]) -> str:
    """The results, aligned in columns, with what was measured and how above them."""
    runs = f"medians of {meta['runs']} runs" if meta["runs"] > 1 else "1 run"
    lines = [
        f"widgetapi benchmark, {meta['started_at']}: {meta['source']} ({meta['commit']}), "
        f"{meta['database']}",
        f"widgetapi serve --threads {meta['threads']} and the bare Falcon app on CPU {meta['server_cpu']}; "
        f"wrk -t1 on CPU {meta['load_cpu']}, 8 connections (logins 4); {runs} of {meta['duration']} s",
        "errors: non-2xx answers, socket errors and timeouts, all runs together",
        "",
    ]
    grid = [list(HEADERS), *(_cells(row) for row in results.rows)]
    widths = [max(len(cells[column]) for cells in grid) for column in range(len(HEADERS))]
    for cells in grid:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        lines.append("  ".join([first, *rest]).rstrip())
    lines.append("")
    alone, flood = results.row("widget"), results.row("flood")
    if alone and flood:
        lines.append(f"GET /widgets/{{name}} alone -> during the login flood: "
                     f"p50 {_ms(alone.measurement.p50_ms)} -> {_ms(flood.measurement.p50_ms)} ms, "
                     f"p99 {_ms(alone.measurement.p99_ms)} -> {_ms(flood.measurement.p99_ms)} ms "
                     f"({flood.note})")
    if results.memory:
        lines.append("RSS after the load: " + ", ".join(
            f"{name} {size / 2**20:.1f} MB" for name, size in results.memory.items()))
    lines.extend(results.notes)
    return "\n".join(lines)


def as_json(results: Results, meta: Mapping[str, Any]) -> dict[str, Any]:
    """Everything measured: medians, every run, memory, and how it was measured."""
    rows = []
    for row in results.rows:
        measured = row.measurement
        rows.append({
            "key": row.key, "label": row.label, "requests_per_second": measured.rate,
            "p50_ms": measured.p50_ms, "p99_ms": measured.p99_ms, "errors": measured.errors,
            "to_ceiling": row.to_ceiling, "to_100_widgets": row.to_small, "note": row.note,
            "runs": [{**asdict(run), "requests_per_second": run.rate} for run in measured.runs],
        })
    return {"meta": dict(meta), "rows": rows, "rss_bytes": results.memory, "notes": results.notes}
