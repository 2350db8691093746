"""SQL for the decision log, the proposals waiting for signatures, and decision notes.

The log table is append-only from the app's side: records are inserted, never
updated. It is trusted for nothing: every reader replays it through
crypto.log, so an edited row is caught, not believed, and reads it strictly
(crypto.log.parse: a duplicate key, a float or deep nesting is a LogError).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from crypto.log import canonical, digest_canonical, parse

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
    return [parse(bytes(r[0])) for r in rows]


def stored_records(store: Store, seqs: Iterable[int], after: int) -> dict[int, bytes]:
    """The records at seqs and every one after `after`, as stored (canonical JSON), in one query."""
    wanted = sorted(set(seqs))
    query = f"SELECT seq, record FROM log WHERE seq IN ({marks(wanted)}) OR seq > ? ORDER BY seq"  # noqa: S608
    rows = store.conn.execute(query, (*wanted, after)).fetchall()
    return {int(seq): bytes(record) for seq, record in rows}


def record_at(store: Store, seq: int) -> dict[str, Any] | None:
    row = store.conn.execute("SELECT record FROM log WHERE seq = ?", (seq,)).fetchone()
    return parse(bytes(row[0])) if row else None


def append_record(tx: Tx, record: dict[str, Any]) -> None:
    tx.execute("INSERT INTO log (seq, record) VALUES (?, ?)", (record["seq"], canonical(record)))


def _proposal(row: Any) -> Proposal:
    return Proposal(row[0], row[1], parse(row[2]), parse(row[3]), parse(row[4]), row[5])


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


def delete_note(tx: Tx, pid: str) -> None:
    tx.execute("DELETE FROM notes WHERE proposal_id = ?", (pid,))


def note_for(store: Store, pid: str) -> tuple[bytes, bytes] | None:
    """(sealed note, the request it hangs on or b"") of a decision, if it has one."""
    row = store.conn.execute("SELECT envelope, request_id FROM notes WHERE proposal_id = ?", (pid,)).fetchone()
    return (bytes(row[0]), bytes(row[1] or b"")) if row else None


def all_notes(store: Store) -> list[tuple[str, bytes, bytes]]:
    """(proposal id, sealed note, its request or b"") of every note."""
    return [(r[0], bytes(r[1]), bytes(r[2] or b""))
            for r in store.conn.execute("SELECT proposal_id, envelope, request_id FROM notes")]


def log_head(conn: Tx) -> tuple[int, str]:
    """(length, hash of the last record): what a writer compares with the state it sealed to.

    The hash as well as the length: a log swapped for another one just as long is caught.
    """
    row = conn.execute("SELECT seq, record FROM log ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(row[0]) + 1, digest_canonical(bytes(row[1]))) if row else (0, "")


def mark_reseal_due(tx: Tx, pid: str) -> None:
    tx.execute("INSERT OR IGNORE INTO reseal_due (proposal_id) VALUES (?)", (pid,))


def reseal_due(store: Store) -> list[str]:
    """Membership decisions made final since the last finished re-seal by someone with no keys at hand."""
    return [r[0] for r in store.conn.execute("SELECT proposal_id FROM reseal_due")]


def clear_reseal_due(tx: Tx, pids: list[str]) -> None:
    tx.executemany("DELETE FROM reseal_due WHERE proposal_id = ?", [(p,) for p in pids])
