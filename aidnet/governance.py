"""Community-held keys: the decision log decides who can read and what is allocated.

The set of keys new records are sealed to comes from the verified log, never
from the coordinators table: an operator who inserts a row or a key gains
nothing. Proposals wait in `proposals` until a quorum of current members has
signed; the write that makes one final re-reads everything inside one locked
transaction, so two keyholders signing at once finalize it exactly once.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from typing import Any

import crypto
from crypto import KeyPair
from crypto.log import QUORUM_TYPES, LogError, LogState, apply, new_record, sign_proposal, signature_valid, verify

from . import dates, logstore
from .config import Settings
from .storage import StorageError, Store

log = logging.getLogger("aidnet")
NOTE_KIND = "note"
MEMBERSHIP_TYPES = frozenset({"add_member", "remove_member", "rotate_key", "renew_member"})

_cache: dict[str, LogState] = {}
_cache_lock = threading.Lock()


class NoGenesis(Exception):
    """The log has no genesis yet: nobody can read, so nothing is accepted."""


PIN_FILE = "genesis.pin"
# Every read of the state re-hashes the last record this process verified; at most
# once a second it also re-hashes a few random older ones. Sealing trusts only the
# state verified in memory, so the checks are there to notice tampering, and a
# second's delay costs nothing; reading random log pages on every request did.
SPOT_CHECKS = 3
SPOT_CHECK_SECONDS = 1.0
_last_spot_check = 0.0
_last_read: dict[str, float] = {}  # when each database's log was last read by this process


def _pin_path(store: Store) -> Any:
    return store.path.with_name(PIN_FILE)


def pinned_genesis(store: Store) -> str | None:
    """The genesis hash written beside the database at genesis (None if there is none)."""
    try:
        return str(_pin_path(store).read_text(encoding="ascii").strip()) or None
    except OSError:
        return None


def _fresh(store: Store) -> LogState | None:
    """The verified state, replaying only records this process has not seen yet.

    Records verified before are spot-checked (the last one and a few at random);
    every write that finalizes a decision verifies the whole log again.
    """
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
        stored = logstore.stored_records(store, spots, after=cached.seq)
        for seq in spots:
            if seq not in stored or crypto.log.digest_canonical(stored[seq]) not in cached.hashes:
                raise LogError("a record this server already verified has changed")
        if crypto.log.digest_canonical(stored[cached.seq]) != cached.head:
            raise LogError("a record this server already verified has changed")
        state = cached
        for seq in sorted(n for n in stored if n > cached.seq):
            state = apply(state, json.loads(stored[seq]))
    else:
        all_records = logstore.records(store)
        pin = pinned_genesis(store)
        if not all_records:
            if pin:
                raise LogError("the log was emptied: its genesis is pinned but no record is left")
            return None
        state = verify(all_records, pin)
    with _cache_lock:
        _cache[key] = state
        _last_read[key] = time.monotonic()
    return state


def current(store: Store) -> LogState:
    state = _fresh(store)
    if state is None:
        raise NoGenesis
    return state


def check_at_start(store: Store) -> LogState | None:
    """Verify the whole log from scratch; LogError if it does not hold."""
    with _cache_lock:
        _cache.pop(str(store.path), None)
    state = _fresh(store)
    if state is None:
        log.warning("decision log has no genesis yet: requests are refused until `aidnet log genesis`")
    return state


def recipients(store: Store) -> list[bytes]:
    """X25519 keys of the members active today, per the verified log ([] before genesis)."""
    return readers(store)[0]


def readers(store: Store, recheck: bool = True) -> tuple[list[bytes], tuple[int, str, int]]:
    """recipients(), and what they were read at: the log's length and head hash, and the day.

    A writer checks inside its transaction that the log and the day are still
    those (intake.readers_unchanged): a decision or midnight (the end of a
    term) in between means it must read again and seal again.
    recheck=False may answer from what this process verified less than
    SPOT_CHECK_SECONDS ago without reading the log: only for such a writer
    (intake.submit_request).
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
    return (state.recipients(today), (state.seq + 1, state.head, today)) if state else ([], (0, "", today))


def note_hash(envelope: bytes) -> str:
    return crypto.blake2b(envelope, b"aidnet-note").hex()


def seal_note(store: Store, pid: str, text: str, request_id: str | None = None) -> str | None:
    """Seal a note to the current members and keep it outside the log; return its hash for the decision.

    Tied to its request, the note is erased with it (retention, withdrawal);
    the log keeps only the hash.
    """
    from . import groupcommit, intake

    if not text:
        return None
    request = bytes.fromhex(request_id) if request_id else None

    def write(tx: groupcommit.Tx, envelope: bytes) -> str:
        tied = request if request is not None and store.request_by_id(request) is not None else None
        logstore.insert_note(tx, pid, tied, envelope)
        return note_hash(envelope)

    return intake.sealed_write(
        store, lambda readers: crypto.seal(text.encode("utf-8"), bytes.fromhex(pid), NOTE_KIND, readers), write)


def open_sealed_note(pid: str, note: str | None, envelope: bytes | None, keys: KeyPair) -> str | None:
    """The note's text if envelope matches the hash the decision carries and keys open it."""
    if not note or envelope is None or note_hash(envelope) != note:
        return None
    try:
        return crypto.open_envelope(envelope, bytes.fromhex(pid), NOTE_KIND, keys.box_secret).decode()
    except (crypto.CryptoError, ValueError):
        return None


def open_note(store: Store, pid: str, note: str | None, keys: KeyPair) -> str | None:
    return open_sealed_note(pid, note, logstore.note_for(store, pid), keys) if note else None


def make_genesis(store: Store, founders: list[tuple[str, KeyPair]], quorum: int, until: int | None = None) -> str:
    """Write the first record: founders' public keys and the quorum, signed by every founder."""
    if logstore.records(store):
        raise LogError("the log already has a genesis")
    members = [{"handle": h, "box": k.box_public.hex(), "sign": k.sign_public.hex(), "until": until} for h, k in founders]
    proposal = {"id": secrets.token_hex(16), "type": "genesis", "body": {"members": members, "quorum": quorum},
                "day": dates.today()}
    signatures = [sign_proposal(proposal, k.sign_seed) for _, k in founders]
    record = new_record(LogState(), proposal, signatures, dates.today())
    apply(LogState(), record)  # refuse a genesis that would not verify
    with store.write() as tx:
        logstore.append_record(tx, record)
    head = crypto.log.digest(record)
    # Pinned outside the database: a log swapped inside it no longer matches.
    fd = os.open(_pin_path(store), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(head + "\n")
    return head


def new_proposal(store: Store, kind: str, body: dict[str, Any], pid: str | None = None) -> dict[str, Any]:
    if kind not in QUORUM_TYPES and kind != "dispute":
        raise ValueError("unknown decision type")
    return {"id": pid or secrets.token_hex(16), "type": kind, "body": body, "day": dates.today()}


def propose(store: Store, keys: KeyPair | None, proposal: dict[str, Any], settings: Settings | None = None) -> bool:
    """Store a proposal signed by its proposer (if any) and make it final if that is enough."""
    signatures = [sign_proposal(proposal, keys.sign_seed, current(store))] if keys else []
    with store.write() as tx:
        logstore.insert_proposal(tx, proposal, signatures)
    return finalize(store, proposal["id"], keys)


def sign(store: Store, pid: str, keys: KeyPair) -> bool:
    """Add this keyholder's signature; returns True if the decision is now final."""
    return add_signature(store, pid, None, keys)


def add_signature(store: Store, pid: str, signature: dict[str, str] | None, keys: KeyPair | None = None) -> bool:
    """Add a signature made here (keys) or brought from offline (signature)."""
    with store.write() as tx:
        pending = logstore.proposal(tx, pid)
        if pending is None or pending.state != "pending":
            if signature is not None:
                raise LogError("no such pending decision")
            return False
        state = current(store)
        signature = signature or sign_proposal(pending.proposal, keys.sign_seed if keys else b"", state)
        if not signature_valid(pending.proposal, signature, state):
            raise LogError("the signature does not match this proposal and this log")
        member = state.members.get(signature["signer"])
        renewal = pending.proposal["type"] == "renew_member"
        if member is None or not (member.active(dates.today()) or renewal):
            raise LogError("the signer is not a current member")
        others = [s for s in pending.signatures if s["signer"] != signature["signer"]]
        logstore.update_proposal(tx, pid, [*others, signature], pending.declines, "pending")
    return finalize(store, pid, keys)


def decline(store: Store, pid: str, keys: KeyPair) -> None:
    """Record a refusal; a proposal that can no longer reach quorum is closed as declined."""
    state = current(store)
    with store.write() as tx:
        pending = logstore.proposal(tx, pid)
        if pending is None or pending.state != "pending":
            return
        me = keys.sign_public.hex()
        declines = sorted({*pending.declines, me})
        signatures = [s for s in pending.signatures if s["signer"] != me]
        still_possible = len([m for m in state.active_members(dates.today()) if m.sign not in declines])
        outcome = "declined" if still_possible < state.quorum else "pending"
        logstore.update_proposal(tx, pid, signatures, declines, outcome)


def finalize(store: Store, pid: str, keys: KeyPair | None = None) -> bool:
    """Append the proposal to the log if a quorum has signed. Exactly once, under the write lock."""
    from . import effects

    refused: str | None = None
    with store.write() as tx:
        pending = logstore.proposal(tx, pid)
        if pending is None or pending.state != "pending":
            return False
        # A write that changes the log verifies all of it first, not just the cache.
        state = verify(logstore.records(store), pinned_genesis(store))
        today = dates.today()
        kind = pending.proposal["type"]
        signers = state.valid_signers(pending.proposal, pending.signatures, today, lapsed_too=kind == "renew_member")
        if kind in QUORUM_TYPES and len(signers) < state.quorum:
            return False
        counted = [s for s in pending.signatures if s["signer"] in signers]
        record = new_record(state, pending.proposal, counted, today)
        try:
            after = apply(state, record)
            effects.check_possible(store, tx, pending.proposal)
        except LogError as exc:
            # It can never apply (e.g. the offer went to someone else): close it, say why.
            logstore.update_proposal(tx, pid, pending.signatures, pending.declines, "refused")
            refused = str(exc)
        else:
            logstore.append_record(tx, record)
            logstore.update_proposal(tx, pid, counted, pending.declines, "final")
            effects.on_final(store, tx, pending.proposal, keys)
    if refused is not None:
        raise LogError(refused)
    with _cache_lock:
        _cache[str(store.path)] = after
    if keys is not None and pending.proposal["type"] in MEMBERSHIP_TYPES:
        # The readers changed: the finalizing keyholder's session re-seals what it can open at once.
        from .intake import ReadersChanged
        from .membership import reseal_all

        try:
            reseal_all(store, keys)
        except (ReadersChanged, NoGenesis, StorageError):
            # The decision itself is final and kept; the Re-seal button finishes what this could not.
            log.warning("re-sealing after a membership decision did not finish; use Re-seal")
    return True


def genesis_from_accounts(store: Store, founders: list[tuple[str, str]], quorum: int, until: int | None = None) -> str:
    """Genesis from coordinator accounts on this server; each founder's passphrase unlocks their key to sign."""
    signed = []
    for handle, passphrase in founders:
        row = store.coordinator_by_handle(handle)
        if row is None:
            raise LogError(f"no coordinator {handle}")
        try:
            signed.append((handle, crypto.unwrap_with_passphrase(row.wrapped_keys, passphrase)))
        except crypto.CryptoError:
            raise LogError(f"wrong passphrase for {handle}") from None
    return make_genesis(store, signed, quorum, until)


def has_genesis(store: Store) -> bool:
    return logstore.record_at(store, 0) is not None
