"""SQL for offers (sealed like requests, followed up by codename) and for stock and funds received.

Offers are shaped like requests: a sealed envelope, a status, an expiry day,
a hash of the codename's lookup id and its reply key. Stock rows hold only
a sealed envelope and an expiry day; amounts and categories live as counters.
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


def insert_stock(tx: Tx, *, id: bytes, envelope: bytes, expires_day: int) -> None:
    tx.execute("INSERT INTO stock (id, envelope, expires_day) VALUES (?, ?, ?)", (id, envelope, expires_day))


def stock_rows(store: Store, limit: int = 200) -> list[SealedRow]:
    rows = store.conn.execute("SELECT seq, id, envelope, 'stock' FROM stock ORDER BY seq DESC LIMIT ?",
                              (limit,)).fetchall()
    return [SealedRow(*r) for r in rows]
