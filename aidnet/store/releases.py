"""SQL for signed releases and the privacy-budget ledger they spend.

A release is stored whole (manifest, CSV, signature) the first time a period is
published, with the budget it spent, in one transaction: exporting the same
period again returns the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .connection import Store, Tx
from .counters import marks


@dataclass(frozen=True)
class ReleaseRow:
    period: str
    kind: str
    last_week: str
    manifest: bytes
    csv: bytes
    signature: bytes


def release(store: Store, period: str) -> ReleaseRow | None:
    row = store.conn.execute(
        "SELECT period, kind, last_week, manifest, csv, signature FROM releases WHERE period = ?", (period,)
    ).fetchone()
    return ReleaseRow(*row) if row else None


def releases(store: Store) -> list[ReleaseRow]:
    """Every release, latest period first."""
    return [ReleaseRow(*r) for r in store.conn.execute(
        "SELECT period, kind, last_week, manifest, csv, signature FROM releases ORDER BY last_week DESC, seq DESC"
    )]


def spent(store: Store, weeks: Sequence[str]) -> list[tuple[str, str, str]]:
    """(week, period, epsilon) ledger entries touching these weeks."""
    return [tuple(r) for r in store.conn.execute(
        f"SELECT week, period, epsilon FROM budget WHERE week IN ({marks(weeks)}) ORDER BY week, period",  # noqa: S608  # placeholders only
        tuple(weeks),
    )]


def save_release(tx: Tx, row: ReleaseRow, spend: Sequence[tuple[str, str]]) -> None:
    """Store a release and its budget spend (week, epsilon) in the caller's one transaction."""
    tx.execute(
        "INSERT INTO releases (period, kind, last_week, manifest, csv, signature) VALUES (?, ?, ?, ?, ?, ?)",
        (row.period, row.kind, row.last_week, row.manifest, row.csv, row.signature),
    )
    tx.executemany("INSERT INTO budget (week, period, epsilon) VALUES (?, ?, ?)",
                   [(week, row.period, eps) for week, eps in spend])
