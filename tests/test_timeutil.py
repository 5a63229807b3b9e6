"""widgetapi.timeutil's formatting: ISO 8601 datetimes and durations, byte for byte what the
straightforward versions below write, for every kind of value."""
from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from widgetapi.timeutil import format_datetime, format_duration


def plain_datetime(value: datetime) -> str:
    return value.replace(microsecond=0).isoformat() + "Z"


def plain_duration(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    clock = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    if not days and not clock:
        return "PT0S"
    return "P" + (f"{days}D" if days else "") + (f"T{clock}" if clock else "")


EDGES = [timedelta(0), timedelta(microseconds=1), timedelta(microseconds=999_999), timedelta(seconds=1),
         timedelta(seconds=-1), timedelta(microseconds=-1), timedelta(seconds=59), timedelta(seconds=60),
         timedelta(seconds=3600), timedelta(seconds=3661), timedelta(days=1), timedelta(days=1, seconds=1),
         timedelta(days=1, minutes=1), timedelta(days=400, hours=23, minutes=59, seconds=59),
         timedelta(days=2_900_000, microseconds=999_999), timedelta.max, timedelta.min]


@pytest.mark.parametrize("delta", EDGES, ids=str)
def test_durations_at_the_edges(delta: timedelta) -> None:
    assert format_duration(delta) == plain_duration(delta)


def test_durations_at_random() -> None:
    draw = random.Random(19)
    for _ in range(20_000):
        delta = timedelta(days=draw.choice([0, 0, 1, 39, 3_000_000]) * draw.random(),
                          seconds=draw.randrange(-100, 86_400), microseconds=draw.randrange(1_000_000))
        assert format_duration(delta) == plain_duration(delta), delta


@pytest.mark.parametrize("value", [datetime(2026, 12, 6, 10, 0), datetime(2026, 12, 6, 10, 0, 0, 999_999),
                                   datetime(1, 1, 1), datetime.max, datetime(2026, 2, 28, 23, 59, 59, 1)],
                         ids=str)
def test_datetimes(value: datetime) -> None:
    assert format_datetime(value) == plain_datetime(value)
