"""The published totals are accurate and unbiased, and a period's noise can only ever be drawn once."""

from __future__ import annotations

import random
import statistics
from pathlib import Path

import pytest
from helpers.exports import WEEK, plant, release
from helpers.instance import make_instance

from aidnet.config import Settings
from aidnet.exports import releases
from aidnet.exports.suppression import ALL, Shape
from aidnet.store import backup, open_store

SEEDS = 200


def month_cells(settings: Settings, n: int, rng: random.Random) -> dict[tuple[str, str], int]:
    cells = {(c, a): 0 for c in settings.categories for a in settings.areas}
    keys = sorted(cells)
    for _ in range(n):
        cells[rng.choice(keys)] += 1
    return cells


def published_totals(settings: Settings, n: int) -> list[int]:
    """The published monthly total of requests received, for SEEDS release secrets, true total n."""
    shape = Shape(tuple(settings.categories), tuple(settings.areas), ("2026-W06",))
    out = []
    for seed in range(SEEDS):
        cells = month_cells(settings, n, random.Random(seed))
        table = releases._margins_table(settings, seed.to_bytes(32, "big"), "2026-02", "received", shape, cells)
        out.append(next(v for r, c, v in table["values"] if (r, c) == (ALL, ALL)))
    return out


def test_monthly_total_of_fifty_requests_is_within_ten_and_unbiased(tmp_path: Path) -> None:
    settings = make_instance(tmp_path / "a")  # defaults: ε = 1/2 a release
    assert (len(settings.categories), len(settings.areas)) == (6, 5)
    totals = published_totals(settings, 50)
    within = sum(abs(t - 50) <= 10 for t in totals) / SEEDS
    assert within >= 0.9, within
    assert abs(statistics.mean(totals) - 50) <= 2


def test_an_empty_month_publishes_about_nothing(tmp_path: Path) -> None:
    settings = make_instance(tmp_path / "a")
    totals = sorted(published_totals(settings, 0))
    assert statistics.mean(totals) < 3
    assert totals[int(0.95 * SEEDS) - 1] < 12


def test_same_period_same_numbers_after_a_restore(tmp_path: Path) -> None:
    """The noise comes from the release secret beside the export key, the period and the figure:
    a database restored from before the release gives the very same published numbers."""
    settings = make_instance(tmp_path / "a")
    plant(settings, WEEK, {("food", "north", "received"): 40, ("rent", "south", "received"): 7})
    release(settings, "2026-W08")  # the export key exists, so the backup carries it
    key, _ = backup.backup_key(tmp_path / "backup.key", create=True)
    backup.write_backup(settings, tmp_path / "before.aidbk", key)
    first, made = release(settings)
    assert made
    backup.restore_backup(tmp_path / "before.aidbk", key, settings.instance, replace=True)
    again, made_again = release(settings)  # the release and its ledger entry were gone: drawn again
    assert made_again and again.manifest == first.manifest and again.signature == first.signature
    # A backup from before the week ended holds other counts: same noise would reveal the difference,
    # so a period already published is refused rather than published with other numbers.
    plant(settings, WEEK, {("food", "north", "received"): 1})
    backup.write_backup(settings, tmp_path / "more.aidbk", key)
    backup.restore_backup(tmp_path / "more.aidbk", key, settings.instance, replace=True)
    with open_store(settings) as store, store.write() as tx:
        tx.execute("DELETE FROM releases WHERE period = ?", (WEEK,))
        tx.execute("DELETE FROM budget WHERE period = ?", (WEEK,))
    with pytest.raises(releases.ExportError, match="published before with other numbers"):
        release(settings)
    # Another instance (another secret) draws other noise for the same counts.
    other = make_instance(tmp_path / "b")
    plant(other, WEEK, {("food", "north", "received"): 40, ("rent", "south", "received"): 7})
    assert release(other)[0].manifest != first.manifest
