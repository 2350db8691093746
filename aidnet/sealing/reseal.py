"""Re-sealing: every record a keyholder can open, sealed again to today's readers, a batch at a time.

First the period keys (crypto.periods): this month's key is made for today's
readers if missing, and every older period secret this keyholder can open is
sealed again to today's readers — one secret per period, whatever the number
of its records. Then the rows: a record sealed to such a period key is done
as it is; one sealed to the readers directly (made before the group had
period keys, or while none was in force) gets a new content key sealed to
the period key in force, so a removed member who kept an old sealed key
cannot open the new envelope; an envelope of the first format is rewritten
in the current one (bound to its parent, with a key commitment). Each batch is its own short transaction,
written only if the readers did not change while it was being sealed
(sealing.write.sealed_write), so submissions never wait behind one long
transaction. A re-seal can stop after a while and go on later from its
Cursor (the web runs it a few seconds per page view).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import crypto
from crypto import KeyPair

from ..errors import NotReady
from ..store import Store, Tx
from ..store import periods as period_rows
from ..store import sealed as sealed_rows
from . import periods
from .readers import NoGenesis, state_for_sealing
from .write import ReadersChanged, Target, readers_unchanged, sealed_write

TABLES = tuple(sealed_rows.SEALED_TABLES)
BATCH = 200
Progress = Callable[[int, int], None]  # (done, total)
# The requester's reply key for a record hanging on this request (parent id, and the request's old clear
# column, empty for requests made since the key travels inside the sealed request): None if not known.
RequesterKey = Callable[[bytes, bytes], bytes | None]


# A record's payload as it is to be sealed again (table, payload, the request's clear reply key): how a
# request made before reply keys travelled inside takes its key in at the re-seal. A payload the upgrade
# changed has taken the column's value in, and the table's clear column is emptied.
Upgrade = Callable[[str, bytes, bytes], bytes]


def column_key(_parent: bytes, column: bytes) -> bytes | None:
    """The requester's key as a request made before sealed reply keys keeps it in clear."""
    return column or None


def unchanged(_table: str, payload: bytes, _column: bytes) -> bytes:
    return payload


@dataclass(frozen=True)
class Cursor:
    """How far a re-seal has got: the table it is in, the last rowid done there, and the counts so far."""

    table: int = 0
    after: int = 0
    done: int = 0
    skipped: int = 0
    total: int = 0
    spent_ms: int = 0  # time spent re-sealing so far (a duration, never a clock time)

    @property
    def finished(self) -> bool:
        return self.table >= len(TABLES)

    @property
    def seen(self) -> int:
        return self.done + self.skipped

    def seconds_left(self) -> float | None:
        """An estimate from the pace so far; None until there is a pace."""
        if not self.seen or self.finished:
            return None
        return self.spent_ms / 1000 * (self.total - self.seen) / self.seen

    def to_text(self) -> str:
        return ".".join(str(n) for n in (self.table, self.after, self.done, self.skipped, self.total, self.spent_ms))

    @classmethod
    def from_text(cls, text: str) -> Cursor:
        """A cursor from to_text(); ValueError if it is not one."""
        parts = [int(p) for p in text.split(".")]
        if len(parts) != 6 or any(p < 0 for p in parts) or parts[0] > len(TABLES):
            raise ValueError("not a re-seal cursor")
        return cls(*parts)


def start(store: Store) -> Cursor:
    """A cursor at the beginning, knowing how many sealed records there are now."""
    return Cursor(total=sum(sealed_rows.sealed_count(store, t) for t in TABLES))


def reseal_some(store: Store, keys: KeyPair, cursor: Cursor, seconds: float = float("inf"),
                progress: Progress | None = None, requester_key: RequesterKey = column_key,
                upgrade: Upgrade = unchanged) -> Cursor:
    """Re-seal from cursor on, batch by batch, for about `seconds`; the cursor to go on from.

    Records the requester reads too (answers, replies) stay sealed to the requester's key, which
    requester_key finds; one it cannot find is skipped (left as it was), never sealed without it.
    """
    started = time.monotonic()
    deadline = started + seconds
    if cursor.seen == 0 and cursor.table == 0 and cursor.after == 0:
        periods.ensure(store, keys)
        reseal_period_secrets(store, keys)
    covered = periods.opened_hints(store, keys)
    cursor = _reseal_batches(store, keys, cursor, deadline, progress, requester_key, upgrade, covered)
    return replace(cursor, spent_ms=cursor.spent_ms + round((time.monotonic() - started) * 1000))


def _reseal_batches(store: Store, keys: KeyPair, cursor: Cursor, deadline: float, progress: Progress | None,
                    requester_key: RequesterKey, upgrade: Upgrade, covered: set[bytes]) -> Cursor:
    batches = 0  # at least one batch of rows goes each time, however short the time given
    while not cursor.finished and (batches == 0 or time.monotonic() < deadline):
        table = TABLES[cursor.table]
        rows = sealed_rows.sealed_records(store, table, cursor.after, BATCH)
        if not rows:
            cursor = replace(cursor, table=cursor.table + 1, after=0)
            continue
        batches += 1
        spec = sealed_rows.SEALED_TABLES[table]
        opened, skipped, kept = [], 0, 0
        for _rowid, record_id, envelope, parent, column in rows:
            hint = crypto.key_hint(envelope)
            if hint is not None:  # sealed to a period key: done with its secret, or not this keyholder's
                kept += hint in covered
                skipped += hint not in covered
                continue
            extra = requester_key(parent, column) if spec.requester_reads else None
            if spec.requester_reads and extra is None:
                skipped += 1  # sealing it again without the requester's key would take it from them
                continue
            try:
                payload = crypto.open_envelope(envelope, record_id, spec.kind, keys.box_secret, parent)
            except crypto.CryptoError:
                skipped += 1
                continue
            upgraded = upgrade(table, payload, column)
            opened.append((record_id, upgraded, parent, extra, upgraded != payload))
        resealed = _reseal_batch(store, table, spec.kind, opened) + kept
        cursor = replace(cursor, after=rows[-1][0], done=cursor.done + resealed, skipped=cursor.skipped + skipped,
                         total=max(cursor.total, cursor.done + resealed + cursor.skipped + skipped))
        if progress is not None:
            progress(cursor.seen, cursor.total)
    return cursor


def reseal_period_secrets(store: Store, keys: KeyPair) -> tuple[int, int]:
    """Seal every period secret these keys open again to today's readers; (resealed, not this keyholder's).

    The key in force (already sealed to today's readers, and signed so) is left as it is. Written only if
    the readers did not change meanwhile, in one transaction: a few hundred bytes per period.
    """
    for _attempt in range(3):
        state, seen = state_for_sealing(store)
        if state is None:
            raise NoGenesis
        readers = state.recipients(seen[2])
        if not readers:
            raise NoGenesis
        resealed, others = [], 0
        for key in period_rows.every(store):
            if periods.valid_for(key, state, seen[2], key.period):
                continue
            try:
                secret = crypto.periods.open_secret(key.hint, key.public, key.sealed, keys.box_secret)
            except crypto.CryptoError:
                others += 1
                continue
            resealed.append((key.hint, crypto.periods.seal_secret(secret, readers)))
        with store.write() as tx:
            if not readers_unchanged(tx, seen):
                continue
            for hint, sealed in resealed:
                period_rows.replace_sealed(tx, hint, sealed)
        return len(resealed), others
    raise ReadersChanged


def reseal_all(store: Store, keys: KeyPair, progress: Progress | None = None,
               requester_key: RequesterKey = column_key, upgrade: Upgrade = unchanged) -> tuple[int, int]:
    """Re-seal every record this keyholder can open to today's members; (resealed, skipped)."""
    cursor = reseal_some(store, keys, start(store), progress=progress, requester_key=requester_key, upgrade=upgrade)
    return cursor.done, cursor.skipped


def _reseal_batch(store: Store, table: str, kind: str,
                  opened: list[tuple[bytes, bytes, bytes, bytes | None, bool]]) -> int:
    """Seal the opened records to today's readers and store them (sealed again if the readers move).

    Each comes as (id, payload, parent, the requester's key or None, whether the upgrade carried a clear
    column's value into the payload, so that the column is emptied).
    """
    if not opened:
        return 0

    def seal(to: Target) -> list[tuple[bytes, bytes, bool]]:
        return [(rid, to.seal(payload, rid, kind, parent, also=[extra] if extra else []), carried)
                for rid, payload, parent, extra, carried in opened]

    def write(tx: Tx, updates: list[tuple[bytes, bytes, bool]]) -> int:
        for record_id, envelope, carried in updates:
            sealed_rows.replace_envelope(tx, table, record_id, envelope, carried)
        return len(updates)

    try:
        return sealed_write(store, seal, write)
    except NotReady:
        raise NoGenesis from None
