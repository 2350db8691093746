"""SQL for retention and exports (kept beside storage.py so the shared module stays small).

Exports read only the `counters` and `money` tables: aggregates bumped when
something happens, never rows about a person. Retention deletes request rows
(replies and sealed extension reasons go with them, ON DELETE CASCADE) with
secure_delete on, so the freed pages are overwritten with zeros.

Other modules bump money with `bump_money` inside their own write transaction:

    with store.write() as tx:
        ...
        exportstore.bump_money(tx, dates.this_week(), category, "in", amount_in_cents)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlcipher3

from .storage import Store

DIRECTIONS = ("in", "out")


@dataclass(frozen=True)
class ReleaseRow:
    period: str
    kind: str
    last_week: str
    manifest: bytes
    csv: bytes
    signature: bytes


def bump_money(tx: sqlcipher3.Connection, week: str, category: str, direction: str, amount: int) -> None:
    """Add one movement of money (whole minor units, e.g. cents) to the week's total for a category."""
    if direction not in DIRECTIONS:
        raise ValueError("direction must be 'in' or 'out'")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValueError("amount must be a whole number of minor units, at least 0")
    tx.execute(
        "INSERT INTO money (week, category, direction, amount, count) VALUES (?, ?, ?, ?, 1)"
        " ON CONFLICT (week, category, direction) DO UPDATE SET amount = amount + excluded.amount, count = count + 1",
        (week, category, direction, amount),
    )


def _marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))


def counters_for(store: Store, weeks: Sequence[str]) -> list[tuple[str, str, str, str, int]]:
    """(week, category, area, event, count) for these weeks: aggregates only."""
    return [tuple(r) for r in store.conn.execute(
        f"SELECT week, category, area, event, count FROM counters WHERE week IN ({_marks(weeks)})",  # noqa: S608  # placeholders only
        tuple(weeks),
    )]


def money_for(store: Store, weeks: Sequence[str]) -> list[tuple[str, str, str, int, int]]:
    """(week, category, direction, amount, count) for these weeks."""
    return [tuple(r) for r in store.conn.execute(
        f"SELECT week, category, direction, amount, count FROM money WHERE week IN ({_marks(weeks)})",  # noqa: S608  # placeholders only
        tuple(weeks),
    )]


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
        f"SELECT week, period, epsilon FROM budget WHERE week IN ({_marks(weeks)}) ORDER BY week, period",  # noqa: S608  # placeholders only
        tuple(weeks),
    )]


def save_release(tx: sqlcipher3.Connection, row: ReleaseRow, spend: Sequence[tuple[str, str]]) -> None:
    """Store a release and its budget spend (week, epsilon) in the caller's one transaction."""
    tx.execute(
        "INSERT INTO releases (period, kind, last_week, manifest, csv, signature) VALUES (?, ?, ?, ?, ?, ?)",
        (row.period, row.kind, row.last_week, row.manifest, row.csv, row.signature),
    )
    tx.executemany("INSERT INTO budget (week, period, epsilon) VALUES (?, ?, ?)",
                   [(week, row.period, eps) for week, eps in spend])


# retention


def table_exists(store: Store, name: str) -> bool:
    return store.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


def clamp_closed(tx: sqlcipher3.Connection, statuses: Sequence[str], until_day: int, keep_extended: bool = True) -> int:
    """Shorten the life of requests in these statuses to until_day (sparing extended ones if asked)."""
    spare = " AND id NOT IN (SELECT request_id FROM extensions)" if keep_extended else ""
    cur = tx.execute(
        f"UPDATE requests SET expires_day = ? WHERE status IN ({_marks(statuses)}) AND expires_day > ?{spare}",  # noqa: S608  # placeholders and a fixed clause
        (until_day, *statuses, until_day),
    )
    return int(cur.rowcount)


def delete_expired_requests(tx: sqlcipher3.Connection, today: int) -> int:
    """Erase requests whose last day has passed; replies and extension reasons go with them."""
    return int(tx.execute("DELETE FROM requests WHERE expires_day < ?", (today,)).rowcount)


def delete_expired(tx: sqlcipher3.Connection, table: str, today: int) -> int:
    """Erase rows with an expires_day column (offers, used form nonces) whose last day has passed."""
    if table not in ("offers", "used_forms", "stock"):
        raise ValueError("not a table with a retention day")
    return int(tx.execute(f"DELETE FROM {table} WHERE expires_day < ?", (today,)).rowcount)  # noqa: S608  # fixed names


def delete_stale_sessions(tx: sqlcipher3.Connection, now: int) -> int:
    return int(tx.execute("DELETE FROM sessions WHERE idle_until < ? OR hard_until < ?", (now, now)).rowcount)


def extend_request(tx: sqlcipher3.Connection, *, id: bytes, request_id: bytes, until_day: int, envelope: bytes) -> bool:
    """Keep a request until until_day, with its sealed reason; False if it is gone."""
    cur = tx.execute("UPDATE requests SET expires_day = ? WHERE id = ? AND expires_day < ?",
                     (until_day, request_id, until_day))
    if cur.rowcount != 1:
        return False
    tx.execute("INSERT INTO extensions (id, request_id, until_day, envelope) VALUES (?, ?, ?, ?)",
               (id, request_id, until_day, envelope))
    return True


def extensions_for(store: Store, request_id: bytes) -> list[tuple[bytes, int, bytes]]:
    """(id, until_day, sealed reason) for one request, oldest first."""
    return [tuple(r) for r in store.conn.execute(
        "SELECT id, until_day, envelope FROM extensions WHERE request_id = ? ORDER BY until_day", (request_id,)
    )]
