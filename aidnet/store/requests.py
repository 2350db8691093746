"""SQL for requests and what hangs on them: replies, answers, and the record of forms already sent.

A request row holds only what the server needs in clear: a random id, the
sealed envelope, a status, an expiry day, a hash of the codename's lookup id,
the codename's reply public key, and bits saying which events it has already
been counted for. Replies, answers and the requester's verdict go with it
(ON DELETE CASCADE, and erase_request deletes them explicitly first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .connection import Store, Tx
from .counters import marks


@dataclass(frozen=True)
class RequestRow:
    seq: int
    id: bytes
    envelope: bytes
    status: str
    expires_day: int
    reply_public: bytes
    handler: int | None = None  # the coordinator handling it (an account id), if anyone said so
    awaiting: bool = False  # the coordinators wrote last: waiting for the requester


STATUS_VALUES = ("new", "in_progress", "allocated", "fulfilled", "closed")


@dataclass(frozen=True)
class Filter:
    """What the inbox shows: only columns kept in clear are looked at, nothing is decrypted to filter."""

    status: str | None = None
    handler: int | None = None  # this coordinator's requests
    unassigned: bool = False
    awaiting: bool = False

    def where(self) -> tuple[str, tuple[object, ...]]:
        terms: list[str] = ["1"]
        args: list[object] = []
        if self.status is not None:
            if self.status not in STATUS_VALUES:
                raise ValueError("unknown status")
            # As a literal, from the fixed list: SQLite uses a partial index only for a term it can read.
            # With a handler too, (handler, status, seq) answers it without walking either list.
            terms.append(f"status = '{self.status}'")
        if self.handler is not None:
            terms.append("handler = ?")
            args.append(self.handler)
        if self.unassigned:
            terms.append("handler IS NULL")
        if self.awaiting:
            terms.append("awaiting = 1")
        return " AND ".join(terms), tuple(args)


@dataclass(frozen=True)
class ReplyRow:
    id: bytes
    envelope: bytes


_COLUMNS = "seq, id, envelope, status, expires_day, reply_public, handler, awaiting"
# Bits of requests.counted: which events this request has already added to the counters.
EVENT_BITS = {"in_progress": 1, "allocated": 2, "fulfilled": 4, "closed": 8, "distributed": 16, "money_out": 32}


def _row(r: Any) -> RequestRow:
    seq, id, envelope, status, expires_day, reply_public, handler, awaiting = r
    return RequestRow(seq, id, envelope, status, expires_day, reply_public, handler, bool(awaiting))


def insert_request(tx: Tx, *, id: bytes, envelope: bytes, expires_day: int, lookup_hash: bytes,
                   reply_public: bytes) -> None:
    tx.execute(
        "INSERT INTO requests (id, envelope, status, expires_day, lookup_hash, reply_public)"
        " VALUES (?, ?, 'new', ?, ?, ?)",
        (id, envelope, expires_day, lookup_hash, reply_public),
    )


def by_lookup(store: Store, lookup_hash: bytes) -> RequestRow | None:
    row = store.conn.execute(
        f"SELECT {_COLUMNS} FROM requests WHERE lookup_hash = ?", (lookup_hash,)  # noqa: S608  # constant columns
    ).fetchone()
    return _row(row) if row else None


def by_id(store: Store, id: bytes) -> RequestRow | None:
    row = store.conn.execute(
        f"SELECT {_COLUMNS} FROM requests WHERE id = ?", (id,)  # noqa: S608  # constant columns
    ).fetchone()
    return _row(row) if row else None


def page(store: Store, offset: int, limit: int, only: Filter | None = None) -> list[RequestRow]:
    """Newest first, in the primary key's order (each filter has a partial index, or matches most rows)."""
    where, args = (only or Filter()).where()
    rows = store.conn.execute(
        f"SELECT {_COLUMNS} FROM requests WHERE {where} ORDER BY seq DESC LIMIT ? OFFSET ?",  # noqa: S608  # fixed terms
        (*args, limit, offset)
    ).fetchall()
    return [_row(r) for r in rows]


def count_after(store: Store, seq: int) -> int:
    """How many requests came after seq (a range of the primary key)."""
    return int(store.conn.execute("SELECT count(*) FROM requests WHERE seq > ?", (seq,)).fetchone()[0])


def newest_seq(store: Store) -> int:
    return int(store.conn.execute("SELECT coalesce(max(seq), 0) FROM requests").fetchone()[0])


def set_handler(tx: Tx, id: bytes, handler: int | None) -> bool:
    return bool(tx.execute("UPDATE requests SET handler = ? WHERE id = ?", (handler, id)).rowcount == 1)


def set_awaiting(tx: Tx, id: bytes, awaiting: bool) -> None:
    tx.execute("UPDATE requests SET awaiting = ? WHERE id = ?", (int(awaiting), id))


def count(store: Store) -> int:
    return int(store.conn.execute("SELECT count(*) FROM requests").fetchone()[0])


def set_status_from(tx: Tx, id: bytes, before: str, status: str) -> bool:
    """Set status only if the request is still in `before`; False if it has moved meanwhile."""
    return bool(tx.execute("UPDATE requests SET status = ? WHERE id = ? AND status = ?", (status, id, before)).rowcount == 1)


def set_status(tx: Tx, id: bytes, status: str) -> None:
    tx.execute("UPDATE requests SET status = ? WHERE id = ?", (status, id))


def count_once(tx: Tx, id: bytes, event: str) -> bool:
    """Mark event as counted for this request; False if it already was (then do not bump)."""
    bit = EVENT_BITS[event]
    cur = tx.execute("UPDATE requests SET counted = counted | ? WHERE id = ? AND counted & ? = 0", (bit, id, bit))
    return bool(cur.rowcount == 1)


def was_counted(store: Store, id: bytes, event: str) -> bool:
    """Whether this request has already been counted for event (see count_once)."""
    row = store.conn.execute("SELECT counted FROM requests WHERE id = ?", (id,)).fetchone()
    return bool(row and int(row[0]) & EVENT_BITS[event])


def keep_at_least(tx: Tx, id: bytes, until_day: int) -> None:
    """A reopened request lives at least until until_day again (retention may have shortened it)."""
    tx.execute("UPDATE requests SET expires_day = max(expires_day, ?) WHERE id = ?", (until_day, id))


def insert_reply(tx: Tx, *, id: bytes, request_id: bytes, envelope: bytes) -> None:
    tx.execute("INSERT INTO replies (id, request_id, envelope) VALUES (?, ?, ?)", (id, request_id, envelope))


def replies_for(store: Store, request_id: bytes) -> list[ReplyRow]:
    rows = store.conn.execute(
        "SELECT id, envelope FROM replies WHERE request_id = ? ORDER BY seq", (request_id,)
    ).fetchall()
    return [ReplyRow(*r) for r in rows]


def insert_answer(tx: Tx, *, id: bytes, request_id: bytes, envelope: bytes, after_replies: int) -> None:
    tx.execute("INSERT INTO answers (id, request_id, envelope, after_replies) VALUES (?, ?, ?, ?)",
               (id, request_id, envelope, after_replies))


def answers_for(store: Store, request_id: bytes) -> list[tuple[bytes, bytes, int]]:
    """(id, envelope, after_replies) of each answer, oldest first."""
    rows = store.conn.execute(
        "SELECT id, envelope, after_replies FROM answers WHERE request_id = ? ORDER BY seq", (request_id,)
    ).fetchall()
    return [(r[0], r[1], int(r[2])) for r in rows]


def erase_request(tx: Tx, id: bytes) -> bool:
    """Delete a request with everything sealed for it; secure_delete zeroes the freed pages."""
    for table in ("answers", "replies", "verdicts"):
        tx.execute(f"DELETE FROM {table} WHERE request_id = ?", (id,))  # noqa: S608  # constant table names
    return bool(tx.execute("DELETE FROM requests WHERE id = ?", (id,)).rowcount == 1)


def erase_request_in(tx: Tx, id: bytes, statuses: Sequence[str]) -> bool:
    """erase_request, only while the request is in one of these statuses (it may have moved meanwhile)."""
    cur = tx.execute(f"SELECT 1 FROM requests WHERE id = ? AND status IN ({marks(statuses)})",  # noqa: S608  # placeholders only
                     (id, *statuses))
    return cur.fetchone() is not None and erase_request(tx, id)


def use_form_nonce(tx: Tx, nonce_hash: bytes, expires_day: int) -> bool:
    """Record a form as sent; False if it was sent before (a replay)."""
    cur = tx.execute(
        "INSERT OR IGNORE INTO used_forms (nonce_hash, expires_day) VALUES (?, ?)", (nonce_hash, expires_day)
    )
    return bool(cur.rowcount == 1)
