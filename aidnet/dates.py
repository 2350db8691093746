"""Coarse dates only: aidnet stores days and ISO weeks, never clock times of people."""

from __future__ import annotations

import datetime as dt
import time


def today() -> int:
    """Days since 1970-01-01 (UTC)."""
    return int(time.time() // 86400)


def this_week() -> str:
    year, week, _ = dt.datetime.now(dt.UTC).isocalendar()
    return f"{year}-W{week:02d}"


def parse_day(text: str | None) -> int | None:
    """A YYYY-MM-DD date typed by a person, as days since 1970 (None if empty); ValueError if malformed."""
    if not text:
        return None
    return (dt.date.fromisoformat(text) - dt.date(1970, 1, 1)).days


def day_to_date(day: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=day)
