"""Who reads: the members active today in the verified decision log, kept verified in this process.

The set of keys new records are sealed to comes from the verified log, never
from the coordinators table: an operator who inserts a row or a key gains
nothing. The whole log is verified once; every write that finalizes a
decision re-hashes every stored record and verifies again from the first
one that is not byte for byte what it verified before (full_verify); each
read replays only the records this process has not seen, and re-hashes the last record it verified and, at most
once a second, a few random older ones. Sealing trusts only the state
verified in memory, so those checks are there to notice tampering, and a
second's delay costs nothing; reading random log pages on every request did.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time

from crypto.log import LogError, LogState, apply, digest_canonical, parse, verify

from .. import dates
from ..config import HEAD_FILE, PIN_FILE
from ..errors import Refused
from ..store import Store
from ..store import decision_log as log_rows

log = logging.getLogger("aidnet")

SPOT_CHECKS = 3
SPOT_CHECK_SECONDS = 1.0

Seen = tuple[int, str, int]  # the log's length and head hash, and the day, that readers were read at

_cache: dict[str, LogState] = {}
_cache_lock = threading.Lock()
_last_spot_check = 0.0
_last_read: dict[str, float] = {}  # when each database's log was last read by this process
# What full_verify verified last, per database: the hashes of the records as stored, in order, and the state.
_verified: dict[str, tuple[list[str], LogState]] = {}


class NoGenesis(Refused):
    """The log has no genesis yet: nobody can read, so nothing is accepted."""

    reason = "the group is not founded yet: its decision log has no genesis"


def pinned_genesis(store: Store) -> str | None:
    """The genesis hash written beside the database at genesis (None if there is none)."""
    try:
        return store.path.with_name(PIN_FILE).read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def pin_genesis(store: Store, head: str) -> None:
    """Write the genesis hash beside the database: a log swapped inside it no longer matches."""
    fd = os.open(store.path.with_name(PIN_FILE), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(head + "\n")


def pinned_head(store: Store) -> str | None:
    """The last head of the log this server verified (written beside the genesis pin), if any."""
    try:
        return store.path.with_name(HEAD_FILE).read_text(encoding="ascii").split()[1]
    except (OSError, IndexError):
        return None


def pin_head(store: Store, state: LogState) -> None:
    """Remember the head just verified: at its next start the server refuses a log that does not extend it."""
    path = store.path.with_name(HEAD_FILE)
    part = path.with_name(path.name + ".part")
    try:
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(f"{state.seq} {state.head}\n")
        os.replace(part, path)
    except OSError:
        log.warning("cannot write the head pin")  # a full or read-only disk must not undo a decision made


def _fresh(store: Store) -> LogState | None:
    """The verified state, replaying only records this process has not seen yet."""
    global _last_spot_check
    key = str(store.path)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        # One query for the spot checks and anything new. A stored record's bytes are its
        # canonical form, so hashing them as stored catches any change to them at all.
        spots = {cached.seq}
        if time.monotonic() - _last_spot_check >= SPOT_CHECK_SECONDS:
            _last_spot_check = time.monotonic()
            spots |= {secrets.randbelow(cached.seq + 1) for _ in range(SPOT_CHECKS)}
        stored = log_rows.stored_records(store, spots, after=cached.seq)
        for seq in spots:
            if seq not in stored or digest_canonical(stored[seq]) not in cached.hashes:
                raise LogError("a record this server already verified has changed")
        if digest_canonical(stored[cached.seq]) != cached.head:
            raise LogError("a record this server already verified has changed")
        state = cached
        for seq in sorted(n for n in stored if n > cached.seq):
            state = apply(state, parse(stored[seq]))
    else:
        all_records = log_rows.records(store)
        pin = pinned_genesis(store)
        if not all_records:
            if pin:
                raise LogError("the log was emptied: its genesis is pinned but no record is left")
            return None
        state = verify(all_records, pin)
    remember(store, state)
    return state


def remember(store: Store, state: LogState) -> None:
    """Keep state as what this process verified of this database's log, just now."""
    key = str(store.path)
    with _cache_lock:
        _cache[key] = state
        _last_read[key] = time.monotonic()


def forget() -> None:
    """Drop everything this process verified: the next read verifies each log from its start."""
    with _cache_lock:
        _cache.clear()
        _last_read.clear()
        _verified.clear()


def current(store: Store) -> LogState:
    """The verified state now; NoGenesis before the group is founded, LogError if the log does not hold."""
    state = _fresh(store)
    if state is None:
        raise NoGenesis
    return state


def full_verify(store: Store) -> LogState:
    """Verify the whole log against the pins, whatever the read cache holds (a finalizing write).

    Every stored record is hashed as stored; where they are byte for byte the records this function
    verified before (the same hashes, in order), their signatures and seals are not checked again, since
    the same bytes verify the same way: only the records after them are. Any change to an earlier record
    changes its hash, and the whole log is verified from its first record.
    """
    key = str(store.path)
    stored = log_rows.stored_records(store, (), after=-1)
    chain = [digest_canonical(stored[seq]) for seq in sorted(stored)]
    with _cache_lock:
        before = _verified.get(key)
    if before is not None and len(chain) >= len(before[0]) and chain[:len(before[0])] == before[0]:
        state = before[1]
        for seq in sorted(stored)[len(before[0]):]:
            state = apply(state, parse(stored[seq]))
        genesis, head = pinned_genesis(store), pinned_head(store)
        if state.seq < 0 or (genesis is not None and state.genesis != genesis):
            raise LogError("the genesis is not the expected one")
        if head is not None and head not in state.hashes:
            raise LogError("the log does not extend the head seen before: records were cut off or replaced")
    else:
        state = verify([parse(stored[seq]) for seq in sorted(stored)], pinned_genesis(store), pinned_head(store))
    with _cache_lock:
        _verified[key] = (chain, state)
    return state


def check_at_start(store: Store) -> LogState | None:
    """Verify the whole log from scratch, and that it extends the head verified last; LogError if not.

    None before genesis. The head verified now is remembered for the next start.
    """
    with _cache_lock:
        _cache.pop(str(store.path), None)
        _verified.pop(str(store.path), None)
    state = _fresh(store)
    if state is None:
        log.warning("decision log has no genesis yet: requests are refused until `aidnet log genesis`")
        return None
    head = pinned_head(store)
    if head is not None and head not in state.hashes:
        raise LogError("the log does not extend the head this server verified last: records were cut off or replaced")
    pin_head(store, state)
    return state


def readers(store: Store, recheck: bool = True) -> tuple[list[bytes], Seen]:
    """The X25519 keys new records are sealed to on this day, and what they were read at (see state_for_sealing)."""
    state, seen = state_for_sealing(store, recheck)
    return (state.recipients(seen[2]) if state else []), seen


def state_for_sealing(store: Store, recheck: bool = True) -> tuple[LogState | None, Seen]:
    """The verified state new records are sealed by on this day (None before genesis), and what it was read at.

    A writer checks inside its transaction that the log and the day are still
    those (sealing.write.readers_unchanged): a decision or midnight (the end
    of a term) in between means it must read again and seal again.
    recheck=False may answer from what this process verified less than
    SPOT_CHECK_SECONDS ago without reading the log: only for such a writer.
    """
    state: LogState | None = None
    if not recheck:
        key = str(store.path)
        with _cache_lock:
            cached, read = _cache.get(key), _last_read.get(key, 0.0)
        if cached is not None and time.monotonic() - read < SPOT_CHECK_SECONDS:
            state = cached
    if state is None:
        state = _fresh(store)
    today = dates.today()
    return state, ((state.seq + 1, state.head, today) if state else (0, "", today))


def recipients(store: Store) -> list[bytes]:
    """X25519 keys of the members active today, per the verified log ([] before genesis)."""
    return readers(store)[0]
