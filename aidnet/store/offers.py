"""SQL for offers (sealed like requests, followed up by codename) and for stock and funds received.

Offers are shaped like requests: a sealed envelope, a status, an expiry day,
a hash of the codename's lookup id and its reply key. Stock rows hold only
a sealed envelope, an expiry day and the receipt (a decision) that made them count.
"""

from __future__ import annotations

from dataclasses import dataclass

from .connection import Store, Tx


@dataclass(frozen=True)
class SealedRow:
    seq: int
    id: bytes
    envelope: bytes
    status: str


def insert_offer(tx: Tx, *, id: bytes, envelope: bytes, expires_day: int, lookup_hash: bytes,
                 reply_public: bytes) -> None:
    tx.execute(
        "INSERT INTO offers (id, envelope, status, expires_day, lookup_hash, reply_public) VALUES (?, ?, 'open', ?, ?, ?)",
        (id, envelope, expires_day, lookup_hash, reply_public),
    )


def offer_by_lookup(store: Store, lookup_hash: bytes) -> SealedRow | None:
    row = store.conn.execute("SELECT seq, id, envelope, status FROM offers WHERE lookup_hash = ?",
                             (lookup_hash,)).fetchone()
    return SealedRow(*row) if row else None


def open_offers(store: Store, limit: int = 200) -> list[SealedRow]:
    rows = store.conn.execute(
        "SELECT seq, id, envelope, status FROM offers WHERE status = 'open' ORDER BY seq DESC LIMIT ?", (limit,)
    ).fetchall()
    return [SealedRow(*r) for r in rows]


def offer_by_id(store: Store, id: bytes) -> SealedRow | None:
    row = store.conn.execute("SELECT seq, id, envelope, status FROM offers WHERE id = ?", (id,)).fetchone()
    return SealedRow(*row) if row else None


def offer_status(store: Store, id: bytes) -> str | None:
    row = store.conn.execute("SELECT status FROM offers WHERE id = ?", (id,)).fetchone()
    return str(row[0]) if row else None


def delete_offer(tx: Tx, id: bytes) -> None:
    tx.execute("DELETE FROM offers WHERE id = ?", (id,))


def set_offer_status(tx: Tx, id: bytes, status: str) -> None:
    tx.execute("UPDATE offers SET status = ? WHERE id = ?", (status, id))


def insert_stock(tx: Tx, *, id: bytes, envelope: bytes, expires_day: int, receipt: str | None = None) -> None:
    tx.execute("INSERT INTO stock (id, envelope, expires_day, receipt) VALUES (?, ?, ?, ?)",
               (id, envelope, expires_day, receipt))


def stock_rows(store: Store, limit: int = 200) -> list[SealedRow]:
    """The newest stock rows; status is the id of the receipt decision they belong to ("" for none yet)."""
    rows = store.conn.execute("SELECT seq, id, envelope, coalesce(receipt, '') FROM stock ORDER BY seq DESC LIMIT ?",
                              (limit,)).fetchall()
    return [SealedRow(*r) for r in rows]


def stock_row(store: Store, seq: int) -> SealedRow | None:
    row = store.conn.execute("SELECT seq, id, envelope, coalesce(receipt, '') FROM stock WHERE seq = ?",
                             (seq,)).fetchone()
    return SealedRow(*row) if row else None


def link_receipt(tx: Tx, seq: int, receipt: str) -> bool:
    """Tie a stock row recorded before receipts were signed to its receipt; False if it has one already."""
    return bool(tx.execute("UPDATE stock SET receipt = ? WHERE seq = ? AND receipt IS NULL", (receipt, seq)).rowcount == 1)


def unlink_receipt(tx: Tx, seq: int, receipt: str) -> None:
    tx.execute("UPDATE stock SET receipt = NULL WHERE seq = ? AND receipt = ?", (seq, receipt))


def counted_before(tx: Tx, receipt: str) -> bool:
    """Whether the stock row of this receipt was counted in the public counters when it was recorded."""
    row = tx.execute("SELECT counted FROM stock WHERE receipt = ?", (receipt,)).fetchone()
    return bool(row and row[0])
