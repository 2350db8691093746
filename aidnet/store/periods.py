"""SQL for period keys (crypto.periods): stored as made, found by period or hint, destroyed when unused.

A key is needed while any sealed row carries its hint: a version 3 envelope
has it in bytes 5 to 12 (SQL's substr counts from 1). Nothing here checks a
statement: sealing.periods does, against the verified log.
"""

from __future__ import annotations

from crypto.periods import PeriodKey

from .connection import Store, Tx
from .sealed import SEALED_TABLES

_COLUMNS = "hint, public, sealed, statement, signature"
_V3 = 3


def _row(r: tuple[bytes, bytes, bytes, bytes, bytes]) -> PeriodKey:
    return PeriodKey(bytes(r[0]), bytes(r[1]), bytes(r[2]), bytes(r[3]), bytes(r[4]))


def add(tx: Tx, key: PeriodKey) -> None:
    tx.execute(f"INSERT INTO period_keys (period, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",  # noqa: S608  # fixed names
               (key.period, key.hint, key.public, key.sealed, key.statement, key.signature))


def for_period(store: Store, period: str) -> list[PeriodKey]:
    """The keys stored for a month, newest first."""
    rows = store.conn.execute(f"SELECT {_COLUMNS} FROM period_keys WHERE period = ? ORDER BY rowid DESC",  # noqa: S608  # fixed names
                              (period,))
    return [_row(r) for r in rows]


def by_hint(store: Store, hint: bytes) -> PeriodKey | None:
    row = store.conn.execute(f"SELECT {_COLUMNS} FROM period_keys WHERE hint = ?", (hint,)).fetchone()  # noqa: S608  # fixed names
    return _row(row) if row else None


def every(store: Store) -> list[PeriodKey]:
    """Every stored key, oldest first."""
    return [_row(r) for r in store.conn.execute(f"SELECT {_COLUMNS} FROM period_keys ORDER BY rowid")]  # noqa: S608  # fixed names


def replace_sealed(tx: Tx, hint: bytes, sealed: bytes) -> None:
    """Store a period secret sealed again (to new readers)."""
    tx.execute("UPDATE period_keys SET sealed = ? WHERE hint = ?", (sealed, hint))


def hints_in_use(store: Store | Tx) -> set[bytes]:
    """The hint of every period key some sealed row needs."""
    conn: Tx = store.conn if isinstance(store, Store) else store
    used: set[bytes] = set()
    for table in SEALED_TABLES:
        used.update(bytes(r[0]) for r in conn.execute(
            f"SELECT DISTINCT substr(envelope, 5, 8) FROM {table} WHERE substr(envelope, 3, 1) = ?",  # noqa: S608  # fixed names
            (bytes([_V3]),)))
    return used


def destroy_unused(tx: Tx, before_period: str) -> int:
    """Delete the keys of months before before_period that no sealed row needs; how many went."""
    used = hints_in_use(tx)
    gone = [bytes(r[0]) for r in tx.execute("SELECT hint FROM period_keys WHERE period < ?", (before_period,))
            if bytes(r[0]) not in used]
    for hint in gone:
        tx.execute("DELETE FROM period_keys WHERE hint = ?", (hint,))
    return len(gone)
