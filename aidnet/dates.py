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


def day_to_date(day: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=day)
