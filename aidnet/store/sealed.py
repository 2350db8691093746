"""SQL for re-sealing: every table whose rows are sealed to the group's readers, read in rowid order.

Answers are also sealed to the requester's own reply key, which a re-seal
keeps (the extra column). A re-seal walks each table in rowid order, a batch
at a time, so it can stop and go on from where it got to.
"""

from __future__ import annotations

from .connection import Store, Tx

# table -> (envelope kind, the extra recipient to keep, as a column of the row or NULL)
SEALED_TABLES: dict[str, tuple[str, str]] = {
    "requests": ("request", "SELECT rowid, id, envelope, NULL FROM requests"),
    "offers": ("offer", "SELECT rowid, id, envelope, NULL FROM offers"),
    "stock": ("stock", "SELECT rowid, id, envelope, NULL FROM stock"),
    "answers": ("answer", "SELECT a.rowid, a.id, a.envelope, r.reply_public FROM answers a"
                          " JOIN requests r ON r.id = a.request_id"),
    "extensions": ("retention-extension", "SELECT rowid, id, envelope, NULL FROM extensions"),
}
_ROWID = {"answers": "a.rowid"}

SealedRecord = tuple[int, bytes, bytes, bytes | None]  # rowid, id, envelope, extra recipient or None


def sealed_records(store: Store, table: str, after: int = 0, limit: int = -1) -> list[SealedRecord]:
    """Rows of a sealed table after rowid `after`, in rowid order (limit -1: all of them)."""
    _kind, query = SEALED_TABLES[table]
    rowid = _ROWID.get(table, "rowid")
    return [(int(r[0]), r[1], r[2], r[3]) for r in store.conn.execute(
        f"{query} WHERE {rowid} > ? ORDER BY {rowid} LIMIT ?", (after, limit))]  # noqa: S608  # fixed names


def sealed_count(store: Store, table: str) -> int:
    if table not in SEALED_TABLES:
        raise ValueError("unknown table")
    return int(store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608  # fixed names


def replace_envelope(tx: Tx, table: str, id: bytes, envelope: bytes) -> None:
    if table not in SEALED_TABLES:
        raise ValueError("unknown table")
    tx.execute(f"UPDATE {table} SET envelope = ? WHERE id = ?", (envelope, id))  # noqa: S608  # fixed names
