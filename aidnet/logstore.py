"""SQL for the decision log, pending proposals, offers and stock (storage's second module).

The log table is append-only from the app's side: records are inserted, never
updated. It is trusted for nothing: every reader replays it through
crypto.log, so an edited row is caught, not believed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlcipher3

from crypto.log import canonical, digest_canonical

from .storage import Store


@dataclass(frozen=True)
class Proposal:
    id: str
    arrival: int
    proposal: dict[str, Any]
    signatures: list[dict[str, str]]
    declines: list[str]
    state: str  # pending | final | declined


@dataclass(frozen=True)
class SealedRow:
    seq: int
    id: bytes
    envelope: bytes
    status: str


def records(store: Store, after: int = -1) -> list[dict[str, Any]]:
    rows = store.conn.execute("SELECT record FROM log WHERE seq > ? ORDER BY seq", (after,)).fetchall()
    return [json.loads(bytes(r[0])) for r in rows]


def stored_records(store: Store, seqs: Iterable[int], after: int) -> dict[int, bytes]:
    """The records at seqs and every one after `after`, as stored (canonical JSON), in one query."""
    wanted = sorted(set(seqs))
    marks = ",".join("?" * len(wanted))  # placeholders only: the values travel as parameters
    query = f"SELECT seq, record FROM log WHERE seq IN ({marks}) OR seq > ? ORDER BY seq"  # noqa: S608
    rows = store.conn.execute(query, (*wanted, after)).fetchall()
    return {int(seq): bytes(record) for seq, record in rows}


def record_at(store: Store, seq: int) -> dict[str, Any] | None:
    row = store.conn.execute("SELECT record FROM log WHERE seq = ?", (seq,)).fetchone()
    return json.loads(bytes(row[0])) if row else None


def append_record(tx: sqlcipher3.Connection, record: dict[str, Any]) -> None:
    tx.execute("INSERT INTO log (seq, record) VALUES (?, ?)", (record["seq"], canonical(record)))


def _proposal(row: Any) -> Proposal:
    return Proposal(row[0], row[1], json.loads(row[2]), json.loads(row[3]), json.loads(row[4]), row[5])


_PROPOSAL_COLUMNS = "id, arrival, proposal, signatures, declines, state"


def insert_proposal(tx: sqlcipher3.Connection, proposal: dict[str, Any], signatures: list[dict[str, str]]) -> None:
    arrival = tx.execute("SELECT coalesce(max(arrival), 0) + 1 FROM proposals").fetchone()[0]
    tx.execute(
        "INSERT INTO proposals (id, arrival, proposal, signatures, declines, state) VALUES (?, ?, ?, ?, '[]', 'pending')",
        (proposal["id"], arrival, canonical(proposal), canonical(signatures)),
    )


def proposal(conn: sqlcipher3.Connection, pid: str) -> Proposal | None:
    row = conn.execute(f"SELECT {_PROPOSAL_COLUMNS} FROM proposals WHERE id = ?", (pid,)).fetchone()  # noqa: S608
    return _proposal(row) if row else None


def proposals(store: Store, state: str = "pending") -> list[Proposal]:
    rows = store.conn.execute(
        f"SELECT {_PROPOSAL_COLUMNS} FROM proposals WHERE state = ? ORDER BY arrival DESC", (state,)  # noqa: S608
    ).fetchall()
    return [_proposal(r) for r in rows]


def update_proposal(tx: sqlcipher3.Connection, pid: str, signatures: list[dict[str, str]], declines: list[str],
                    state: str) -> None:
    tx.execute("UPDATE proposals SET signatures = ?, declines = ?, state = ? WHERE id = ?",
               (canonical(signatures), canonical(declines), state, pid))


def insert_note(tx: sqlcipher3.Connection, pid: str, request_id: bytes | None, envelope: bytes) -> None:
    tx.execute("INSERT OR REPLACE INTO notes (proposal_id, request_id, envelope) VALUES (?, ?, ?)",
               (pid, request_id, envelope))


def note_for(store: Store, pid: str) -> bytes | None:
    row = store.conn.execute("SELECT envelope FROM notes WHERE proposal_id = ?", (pid,)).fetchone()
    return bytes(row[0]) if row else None


def all_notes(store: Store) -> list[tuple[str, bytes]]:
    return [(r[0], bytes(r[1])) for r in store.conn.execute("SELECT proposal_id, envelope FROM notes")]


# Offers: shaped like requests (sealed envelope, codename lookup, reply key).

def insert_offer(tx: sqlcipher3.Connection, *, id: bytes, envelope: bytes, expires_day: int, lookup_hash: bytes,
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


def delete_offer(tx: sqlcipher3.Connection, id: bytes) -> None:
    tx.execute("DELETE FROM offers WHERE id = ?", (id,))


def set_offer_status(tx: sqlcipher3.Connection, id: bytes, status: str) -> None:
    tx.execute("UPDATE offers SET status = ? WHERE id = ?", (status, id))


def insert_stock(tx: sqlcipher3.Connection, *, id: bytes, envelope: bytes, expires_day: int) -> None:
    tx.execute("INSERT INTO stock (id, envelope, expires_day) VALUES (?, ?, ?)", (id, envelope, expires_day))


def stock_rows(store: Store, limit: int = 200) -> list[SealedRow]:
    rows = store.conn.execute("SELECT seq, id, envelope, 'stock' FROM stock ORDER BY seq DESC LIMIT ?",
                              (limit,)).fetchall()
    return [SealedRow(*r) for r in rows]


# Re-sealing: every table whose rows are sealed to the group's readers. Answers are also
# sealed to the requester's own reply key, which the re-seal keeps (the extra column).

SEALED_TABLES: dict[str, tuple[str, str]] = {
    "requests": ("request", "SELECT id, envelope, NULL FROM requests"),
    "offers": ("offer", "SELECT id, envelope, NULL FROM offers"),
    "stock": ("stock", "SELECT id, envelope, NULL FROM stock"),
    "answers": ("answer", "SELECT a.id, a.envelope, r.reply_public FROM answers a JOIN requests r ON r.id = a.request_id"),
    "extensions": ("retention-extension", "SELECT id, envelope, NULL FROM extensions"),
}


def sealed_records(store: Store, table: str) -> list[tuple[bytes, bytes, bytes | None]]:
    """(id, envelope, extra recipient or None) for every row of a sealed table."""
    _kind, query = SEALED_TABLES[table]
    return [(r[0], r[1], r[2]) for r in store.conn.execute(query)]


def replace_envelope(tx: sqlcipher3.Connection, table: str, id: bytes, envelope: bytes) -> None:
    if table not in SEALED_TABLES:
        raise ValueError("unknown table")
    tx.execute(f"UPDATE {table} SET envelope = ? WHERE id = ?", (envelope, id))  # noqa: S608  # fixed names


def log_head(conn: sqlcipher3.Connection) -> tuple[int, str]:
    """(length, hash of the last record): what a writer compares with the state it sealed to.

    The hash as well as the length: a log swapped for another one just as long is caught.
    """
    row = conn.execute("SELECT seq, record FROM log ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(row[0]) + 1, digest_canonical(bytes(row[1]))) if row else (0, "")
