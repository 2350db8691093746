"""SQL for re-sealing: every table whose rows are sealed to the group's readers, read in rowid order.

Each row comes with its parent (the request an answer, a reply, an extension
reason, a note or a verdict hangs on: the envelope is bound to it) and, for what the
requester reads too (answers, replies), the request's reply key as its old
clear column holds it (empty for requests made since the key travels inside
the sealed request). A re-seal walks each table in rowid order, a batch at a
time, so it can stop and go on from where it got to. tests/test_governance.py
checks this list against every table of the schema that holds an envelope.
"""

from __future__ import annotations

from dataclasses import dataclass

from .connection import Store, Tx


@dataclass(frozen=True)
class SealedTable:
    kind: str  # the envelope kind it is sealed under
    query: str  # rowid, record id, envelope, parent (or NULL), the request's clear reply key (or NULL)
    rowid: str = "rowid"
    id_column: str = "id"
    hex_id: bool = False  # the record id is kept as hex text (a decision's id)
    requester_reads: bool = False  # sealed to the requester's reply key as well as the readers
    clear_column: str | None = None  # a clear column emptied once the re-sealed payload carries its value


SEALED_TABLES: dict[str, SealedTable] = {
    "requests": SealedTable("request", "SELECT rowid, id, envelope, NULL, reply_public FROM requests",
                              clear_column="reply_public"),
    "offers": SealedTable("offer", "SELECT rowid, id, envelope, NULL, NULL FROM offers"),
    "stock": SealedTable("stock", "SELECT rowid, id, envelope, NULL, NULL FROM stock"),
    "answers": SealedTable("answer", "SELECT a.rowid, a.id, a.envelope, a.request_id, r.reply_public FROM answers a"
                                     " JOIN requests r ON r.id = a.request_id", rowid="a.rowid", requester_reads=True),
    "replies": SealedTable("reply", "SELECT p.rowid, p.id, p.envelope, p.request_id, r.reply_public FROM replies p"
                                    " JOIN requests r ON r.id = p.request_id", rowid="p.rowid", requester_reads=True),
    "extensions": SealedTable("retention-extension", "SELECT rowid, id, envelope, request_id, NULL FROM extensions"),
    "notes": SealedTable("note", "SELECT rowid, proposal_id, envelope, request_id, NULL FROM notes",
                         id_column="proposal_id", hex_id=True),
    "verdicts": SealedTable("verdict", "SELECT rowid, id, envelope, request_id, NULL FROM verdicts"),
}

# rowid, record id, envelope, parent (b"" if none), the request's clear reply key (b"" if none)
SealedRecord = tuple[int, bytes, bytes, bytes, bytes]


def sealed_records(store: Store, table: str, after: int = 0, limit: int = -1) -> list[SealedRecord]:
    """Rows of a sealed table after rowid `after`, in rowid order (limit -1: all of them)."""
    spec = SEALED_TABLES[table]
    rows = store.conn.execute(f"{spec.query} WHERE {spec.rowid} > ? ORDER BY {spec.rowid} LIMIT ?",  # noqa: S608  # fixed names
                              (after, limit))
    return [(int(r[0]), bytes.fromhex(r[1]) if spec.hex_id else bytes(r[1]), bytes(r[2]), bytes(r[3] or b""),
             bytes(r[4] or b"")) for r in rows]


def sealed_count(store: Store, table: str) -> int:
    if table not in SEALED_TABLES:
        raise ValueError("unknown table")
    return int(store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608  # fixed names


def replace_envelope(tx: Tx, table: str, id: bytes, envelope: bytes, carried: bool = False) -> None:
    """Store a re-sealed envelope; carried: its payload now holds what the table's clear column held, so empty it."""
    spec = SEALED_TABLES[table]
    key: bytes | str = id.hex() if spec.hex_id else id
    emptied = f", {spec.clear_column} = x''" if carried and spec.clear_column else ""
    tx.execute(f"UPDATE {table} SET envelope = ?{emptied} WHERE {spec.id_column} = ?", (envelope, key))  # noqa: S608  # fixed names


def envelope_tables(store: Store) -> set[str]:
    """Every table of the schema with an envelope column: what a re-seal must cover (second_factor is sealed
    to its own coordinator alone, and has a column of another name)."""
    tables = [r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {t for t in tables if any(c[1] == "envelope" for c in store.conn.execute(f'PRAGMA table_info("{t}")'))}
