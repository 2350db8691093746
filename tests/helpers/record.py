"""A year of a group's life: twelve monthly releases made through make_release, and a decision log with
allocations, hand-overs, disputes, resolutions, a quorum change and impact updates spread over the same
twelve months (the log's days set by standing the clock of aidnet.dates in each month)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from aidnet import dates
from aidnet.config import Settings
from aidnet.exports import periods
from aidnet.records.requests import submit_request
from aidnet.store import counters, open_store
from aidnet.store import requests as request_rows

from .exports import TODAY, release
from .group import Group, details

# The twelve months before TODAY (2026-03-18), oldest first: all closed.
MONTHS = tuple(f"{2025 + (m - 1) // 12}-{(m - 1) % 12 + 1:02d}" for m in range(3, 15))
IMPACT_TEXT = {  # 600 characters each: the longest an impact update may be
    "en": ("This month we delivered food parcels to families across the north and the south, "
           "paid two rent arrears and drove neighbours to their clinic appointments. ") * 4,
    "es": ("Este mes entregamos paquetes de comida a familias del norte y del sur, pagamos dos "
           "atrasos de alquiler y llevamos a vecinos a sus citas médicas. ") * 4,
    "ar": ("وزعنا هذا الشهر طرود الطعام على العائلات في الشمال والجنوب، ودفعنا متأخرات إيجار "
           "عائلتين، ونقلنا الجيران إلى مواعيدهم في العيادة. ") * 4,
}
IMPACT_TEXT = {code: text[:600] for code, text in IMPACT_TEXT.items()}


@contextmanager
def on_day(day: dt.date) -> Iterator[None]:
    """aidnet.dates.today() says `day` inside: the log records what is decided as decided that day."""
    with mock.patch.object(dates, "today", lambda: (day - dt.date(1970, 1, 1)).days):
        yield


def allocations_in(month: str) -> int:
    """How many allocations the year's log makes in a month: 10 to 12 (shown), or 4 in the last (withheld)."""
    return 4 if month == MONTHS[-1] else 10 + MONTHS.index(month) % 3


def build_year(tmp_path: Path) -> tuple[Group, Settings]:
    """A founded group (ana, ben; quorum 2) with a year of decisions and twelve monthly releases."""
    with on_day(dt.date(2025, 3, 1)):
        group = Group(tmp_path, ["ana", "ben"], quorum=2)
    settings = group.settings
    for index, month in enumerate(MONTHS):
        year, number = (int(x) for x in month.split("-"))
        with on_day(dt.date(year, number, 10)):
            made = []
            for _ in range(allocations_in(month)):
                submit_request(group.store, settings, details(), secrets.token_hex(16))
                request = request_rows.page(group.store, 0, 1)[0].id.hex()
                made.append(group.decide("allocation", {"request": request, "source": {"kind": "stock", "ref": None},
                                                        "note": None}, ["ana", "ben"]))
                group.decide("distribution", {"request": request, "allocation": made[-1], "note": None},
                             ["ana", "ben"])
            dispute, _final = group.propose("dispute", {"decision": made[0], "raised_by": "keyholder"}, "ana")
            if index % 4 == 0:
                group.decide("resolution", {"dispute": dispute["id"], "outcome": "upheld"}, ["ana", "ben"])
            if index % 4 == 1:
                group.decide("impact_update", {"texts": dict(IMPACT_TEXT)}, ["ana", "ben"])
        # What the month's events would have bumped, planted straight into its weeks' counters.
        with open_store(settings) as store, store.write() as tx:
            for week in periods.weeks_of(month)[1]:
                for category, area, event, n in (("food", "north", "received", 9), ("rent", "south", "received", 4),
                                                 ("food", "north", "allocated", 3), ("food", "north", "fulfilled", 3),
                                                 ("medicine", "east", "offered", 2)):
                    for _ in range(n):
                        counters.bump(tx, week, category, area, event)
                counters.bump_money(tx, week, "rent", "in", 30000)
                counters.bump_money(tx, week, "rent", "out", 25000)
        release(settings, month, TODAY)
    with on_day(dt.date(2026, 3, 2)):
        group.decide("set_quorum", {"quorum": 1}, ["ana", "ben"])
    return group, settings
