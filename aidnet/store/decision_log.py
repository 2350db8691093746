"""SQL for the decision log, the proposals waiting for signatures, and decision notes.

The log table is append-only from the app's side: records are inserted, never
updated. It is trusted for nothing: every reader replays it through
crypto.log, so an edited row is caught, not believed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from crypto.log import canonical, digest_canonical

from .connection import Store, Tx
from .counters import marks


@dataclass(frozen=True)
class Proposal:
    id: str
    arrival: int
    proposal: dict[str, Any]
    signatures: list[dict[str, str]]
    declines: list[str]
    state: str  # pending | final | declined


def records(store: Store, after: int = -1) -> list[dict[str, Any]]:
    rows = store.conn.execute("SELECT record FROM log WHERE seq > ? ORDER BY seq", (after,)).fetchall()
    return [json.loads(bytes(r[0])) for r in rows]


def stored_records(store: Store, seqs: Iterable[int], after: int) -> dict[int, bytes]:
    """The records at seqs and every one after `after`, as stored (canonical JSON), in one query."""
    wanted = sorted(set(seqs))
    query = f"SELECT seq, record FROM log WHERE seq IN ({marks(wanted)}) OR seq > ? ORDER BY seq"  # noqa: S608
    rows = store.conn.execute(query, (*wanted, after)).fetchall()
    return {int(seq): bytes(record) for seq, record in rows}


def record_at(store: Store, seq: int) -> dict[str, Any] | None:
    row = store.conn.execute("SELECT record FROM log WHERE seq = ?", (seq,)).fetchone()
    return json.loads(bytes(row[0])) if row else None


def append_record(tx: Tx, record: dict[str, Any]) -> None:
    tx.execute("INSERT INTO log (seq, record) VALUES (?, ?)", (record["seq"], canonical(record)))


def _proposal(row: Any) -> Proposal:
    return Proposal(row[0], row[1], json.loads(row[2]), json.loads(row[3]), json.loads(row[4]), row[5])


_PROPOSAL_COLUMNS = "id, arrival, proposal, signatures, declines, state"


def insert_proposal(tx: Tx, proposal: dict[str, Any], signatures: list[dict[str, str]]) -> None:
    arrival = tx.execute("SELECT coalesce(max(arrival), 0) + 1 FROM proposals").fetchone()[0]
    tx.execute(
        "INSERT INTO proposals (id, arrival, proposal, signatures, declines, state) VALUES (?, ?, ?, ?, '[]', 'pending')",
        (proposal["id"], arrival, canonical(proposal), canonical(signatures)),
    )


def proposal(store: Store, pid: str) -> Proposal | None:
    row = store.conn.execute(f"SELECT {_PROPOSAL_COLUMNS} FROM proposals WHERE id = ?", (pid,)).fetchone()  # noqa: S608
    return _proposal(row) if row else None


def proposals(store: Store, state: str = "pending") -> list[Proposal]:
    rows = store.conn.execute(
        f"SELECT {_PROPOSAL_COLUMNS} FROM proposals WHERE state = ? ORDER BY arrival DESC", (state,)  # noqa: S608
    ).fetchall()
    return [_proposal(r) for r in rows]


def update_proposal(tx: Tx, pid: str, signatures: list[dict[str, str]], declines: list[str],
                    state: str) -> None:
    tx.execute("UPDATE proposals SET signatures = ?, declines = ?, state = ? WHERE id = ?",
               (canonical(signatures), canonical(declines), state, pid))


def insert_note(tx: Tx, pid: str, request_id: bytes | None, envelope: bytes) -> None:
    tx.execute("INSERT OR REPLACE INTO notes (proposal_id, request_id, envelope) VALUES (?, ?, ?)",
               (pid, request_id, envelope))


def note_for(store: Store, pid: str) -> bytes | None:
    row = store.conn.execute("SELECT envelope FROM notes WHERE proposal_id = ?", (pid,)).fetchone()
    return bytes(row[0]) if row else None


def all_notes(store: Store) -> list[tuple[str, bytes]]:
    return [(r[0], bytes(r[1])) for r in store.conn.execute("SELECT proposal_id, envelope FROM notes")]


def log_head(conn: Tx) -> tuple[int, str]:
    """(length, hash of the last record): what a writer compares with the state it sealed to.

    The hash as well as the length: a log swapped for another one just as long is caught.
    """
    row = conn.execute("SELECT seq, record FROM log ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(row[0]) + 1, digest_canonical(bytes(row[1]))) if row else (0, "")
