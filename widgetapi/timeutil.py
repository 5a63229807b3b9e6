"""UTC time, ISO 8601 text and durations. Datetimes are stored naive and mean UTC."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone

_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?"
)
END_OF_DAY = time(23, 59, 59)


def utcnow() -> datetime:
    """The current time as a naive UTC datetime, the form the database stores."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def parse_date_or_datetime(text: str) -> datetime:
    """Parse an ISO 8601 date (meaning 23:59:59 UTC that day) or date-time (naive means UTC)
    into a naive UTC datetime. Raises ValueError for anything else."""
    match = _DATE.fullmatch(text)
    if match:
        return datetime.combine(date(*map(int, match.groups())), END_OF_DAY)
    match = _DATE_TIME.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not an ISO 8601 date or date-time")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    micro = int((fraction or "0").ljust(6, "0"))
    parsed = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro)
    if sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        if int(off_m) > 59 or offset >= timedelta(hours=24):
            raise ValueError(f"{text!r} has an offset out of range")
        try:
            parsed -= offset if sign == "+" else -offset
        except OverflowError:  # e.g. 9999-12-31T23:00-02:00 is after the last datetime
            raise ValueError(f"{text!r} is out of range in UTC") from None
    return parsed


def format_datetime(value: datetime) -> str:
    """A naive UTC datetime as ISO 8601 with a Z, to the second."""
    return value.isoformat(timespec="seconds") + "Z"


def format_duration(delta: timedelta) -> str:
    """A timedelta as an ISO 8601 duration to the second, PT0S when not positive."""
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "PT0S"
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    clock = ((f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
             + (f"{seconds}S" if seconds else ""))
    return "P" + (f"{days}D" if days else "") + ("T" + clock if clock else "")
