"""The published totals are accurate and unbiased, and a period's noise can only ever be drawn once."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from helpers.exports import WEEK, plant, release
from helpers.instance import make_instance

from aidnet.config import Settings
from aidnet.exports import accuracy, releases
from aidnet.store import backup, open_store

SEEDS = accuracy.SEEDS


def published_totals(settings: Settings, n: int) -> list[int]:
    return accuracy.received_totals(settings, n)


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


def test_the_bench_table_prints_default_and_two_other_settings(tmp_path: Path) -> None:
    settings = make_instance(tmp_path / "a")
    lines = accuracy.table_lines(settings, (Fraction(1, 2), Fraction(1, 4), Fraction(1)), seeds=40)
    assert len(lines) == 6 and lines[2].lstrip().startswith("1/2 ") and lines[4].lstrip().startswith("1 ")
    assert "± 9" in lines[2]  # the page's margin for the default


def test_bench_prints_the_accuracy_table() -> None:
    bench = Path(__file__).resolve().parent.parent / "bench" / "run.py"
    done = subprocess.run([sys.executable, str(bench), "--accuracy"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(bench.parent.parent)})
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.strip()[:3] in ("1/2", "1/4", "1  ")]
    assert [r[0] for r in rows] == ["1/2", "1/4", "1"]
