"""Counters planted directly (as events would have bumped them) and releases made from them, on a fixed day."""

from __future__ import annotations

import datetime as dt
import re

from aidnet.config import Settings, load_settings
from aidnet.exports.releases import make_release
from aidnet.store import counters, open_store
from aidnet.store.releases import ReleaseRow

TODAY = dt.date(2026, 3, 18)  # a Wednesday: weeks up to 2026-W11 and months up to February are closed
WEEK = "2026-W09"  # in February 2026 (its Thursday is 26 February)


def set_export(settings: Settings, **values: str) -> Settings:
    """Rewrite [export] keys in the instance config and reload."""
    path = settings.instance / "config.toml"
    text = path.read_text()
    for key, value in values.items():
        text = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
    path.write_text(text)
    return load_settings(settings.instance)


def plant(settings: Settings, week: str, counts: dict[tuple[str, str, str], int],
          money: tuple[tuple[str, str, int], ...] = ()) -> None:
    with open_store(settings) as store:
        store.migrate()
        with store.write() as tx:
            for (category, area, event), n in counts.items():
                for _ in range(n):
                    counters.bump(tx, week, category, area, event)
            for category, direction, amount in money:
                counters.bump_money(tx, week, category, direction, amount)


def release(settings: Settings, period: str = WEEK, today: dt.date = TODAY) -> tuple[ReleaseRow, bool]:
    with open_store(settings) as store:
        store.migrate()
        return make_release(store, settings, period, today)
