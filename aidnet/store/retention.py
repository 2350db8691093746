"""SQL for how long things live: erase days, erasure of what is due, and extensions with sealed reasons.

Deleting a request row deletes its sealed envelope (and with it the content
key sealed to each reader); its replies, answers, verdict, extension reasons and tied
decision notes go with it (ON DELETE CASCADE). secure_delete is on, so the
freed pages are overwritten with zeros.
"""

from __future__ import annotations

from collections.abc import Sequence

from .connection import Store, Tx
from .counters import marks

# Tables whose rows carry their own last day (expires_day).
EXPIRING = ("offers", "used_forms", "stock")


def clamp_closed(tx: Tx, statuses: Sequence[str], until_day: int, keep_extended: bool = True) -> int:
    """Shorten the life of requests in these statuses to until_day (sparing extended ones if asked)."""
    spare = " AND id NOT IN (SELECT request_id FROM extensions)" if keep_extended else ""
    cur = tx.execute(
        f"UPDATE requests SET expires_day = ? WHERE status IN ({marks(statuses)}) AND expires_day > ?{spare}",  # noqa: S608  # placeholders and a fixed clause
        (until_day, *statuses, until_day),
    )
    return int(cur.rowcount)


def expired_request_count(store: Store, today: int) -> int:
    return int(store.conn.execute("SELECT count(*) FROM requests WHERE expires_day < ?", (today,)).fetchone()[0])


def delete_expired_requests(tx: Tx, today: int, limit: int) -> int:
    """Erase up to limit requests whose last day has passed (oldest first); how many went."""
    return int(tx.execute(
        "DELETE FROM requests WHERE seq IN (SELECT seq FROM requests WHERE expires_day < ? ORDER BY seq LIMIT ?)",
        (today, limit),
    ).rowcount)


def delete_expired(tx: Tx, table: str, today: int) -> int:
    """Erase rows of an EXPIRING table whose last day has passed."""
    if table not in EXPIRING:
        raise ValueError("not a table with a retention day")
    return int(tx.execute(f"DELETE FROM {table} WHERE expires_day < ?", (today,)).rowcount)  # noqa: S608  # fixed names


def extend_request(tx: Tx, *, id: bytes, request_id: bytes, until_day: int, envelope: bytes) -> bool:
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
