"""Release periods made of whole ISO weeks: a week, or a month (the weeks whose Thursday falls in it).

Counters are kept per ISO week, so a month is the union of its weeks and no
week belongs to two months; a period can be released only once it has ended.
"""

from __future__ import annotations

import datetime as dt
import re

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class PeriodError(ValueError):
    """Not a week (YYYY-Www) or month (YYYY-MM) we can release."""


def week_of(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def week_monday(week: str) -> dt.date:
    match = _WEEK.match(week)
    if not match:
        raise PeriodError("a week looks like 2026-W05")
    try:
        return dt.date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
    except ValueError:
        raise PeriodError("no such week") from None


def weeks_of(period: str) -> tuple[str, tuple[str, ...]]:
    """(kind, weeks) for a period name: ("week", (w,)) or ("month", weeks whose Thursday is in it)."""
    if _WEEK.match(period):
        week_monday(period)
        return "week", (period,)
    match = _MONTH.match(period)
    if not match:
        raise PeriodError("a period is a week like 2026-W05 or a month like 2026-02")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12 or year < 2000:
        raise PeriodError("no such month")
    day = dt.date(year, month, 1)
    weeks = []
    while day.month == month:
        if day.weekday() == 3:  # Thursday decides which month an ISO week belongs to
            weeks.append(week_of(day))
        day += dt.timedelta(days=1)
    return "month", tuple(weeks)


def is_closed(period: str, today: dt.date) -> bool:
    """True once the period's last week has ended (its Sunday is before today)."""
    _, weeks = weeks_of(period)
    return week_monday(weeks[-1]) + dt.timedelta(days=6) < today


def latest_closed(kind: str, today: dt.date) -> str:
    """The most recent week or month that has ended."""
    if kind == "week":
        return week_of(today - dt.timedelta(days=7))
    if kind != "month":
        raise PeriodError("period must be week or month")
    year, month = today.year, today.month
    while True:
        name = f"{year:04d}-{month:02d}"
        if is_closed(name, today):
            return name
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
