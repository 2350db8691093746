"""SQL for what a requester says of the help: their verdict (sealed), and the allocations they declined.

A verdict row holds only its request, a random id and the sealed envelope (the
answers and the comment are inside it): in clear it says only that this
request's requester gave one. It goes with its request (ON DELETE CASCADE,
and erase_request deletes it explicitly). The answers themselves are counted
as aggregates (counters.bump), never kept in clear per request.

A declined allocation is kept by its decision id alone (an id the log already
carries), so a hand-over of it stays refused after the request is erased.
"""

from __future__ import annotations

from .connection import Store, Tx


def insert_verdict(tx: Tx, *, request_id: bytes, id: bytes, envelope: bytes) -> bool:
    """Keep a request's verdict; False if it already has one (one verdict per request, never replaced)."""
    cur = tx.execute("INSERT OR IGNORE INTO verdicts (request_id, id, envelope) VALUES (?, ?, ?)",
                     (request_id, id, envelope))
    return bool(cur.rowcount == 1)


def verdict_for(store: Store, request_id: bytes) -> tuple[bytes, bytes] | None:
    """(id, sealed envelope) of a request's verdict, if it has one."""
    row = store.conn.execute("SELECT id, envelope FROM verdicts WHERE request_id = ?", (request_id,)).fetchone()
    return (bytes(row[0]), bytes(row[1])) if row else None


def mark_declined(tx: Tx, allocation: str) -> None:
    tx.execute("INSERT OR IGNORE INTO declined (allocation) VALUES (?)", (allocation,))


def is_declined(store: Store, allocation: str) -> bool:
    return store.conn.execute("SELECT 1 FROM declined WHERE allocation = ?", (allocation,)).fetchone() is not None


def declined(store: Store) -> set[str]:
    """Every allocation a requester declined."""
    return {r[0] for r in store.conn.execute("SELECT allocation FROM declined")}
