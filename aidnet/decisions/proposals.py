"""The proposal workflow: found the log, propose, sign or decline, and finalize at quorum, exactly once.

Proposals wait in `proposals` until a quorum of current members has signed;
the write that makes one final verifies the whole log again and re-reads the
proposal inside one locked transaction, so two keyholders signing at once
finalize it exactly once. A decision's effects (decisions.effects) commit in
that same transaction. After a membership decision (MEMBERSHIP_TYPES) the
readers have changed: whoever made it final with keys at hand re-seals what
they can open (sealing.reseal; the web does it a few seconds per page).
"""

from __future__ import annotations

import secrets
from typing import Any

import crypto
from crypto import KeyPair
from crypto.log import QUORUM_TYPES, LogError, LogState, apply, new_record, sign_proposal, signature_valid

from .. import dates
from ..config import Settings
from ..errors import Refused
from ..sealing import readers
from ..sealing.readers import current
from ..store import Store
from ..store import accounts as account_rows
from ..store import decision_log as log_rows
from . import effects

MEMBERSHIP_TYPES = frozenset({"add_member", "remove_member", "rotate_key", "renew_member"})


class DecisionRefused(Refused):
    """A proposal, a signature or a genesis that cannot be accepted; the reason says why."""

    reason = "that decision cannot be made"


def make_genesis(store: Store, founders: list[tuple[str, KeyPair]], quorum: int, until: int | None = None) -> str:
    """Write the first record: founders' public keys and the quorum, signed by every founder."""
    if log_rows.records(store):
        raise DecisionRefused("the log already has a genesis")
    members = [{"handle": h, "box": k.box_public.hex(), "sign": k.sign_public.hex(), "until": until} for h, k in founders]
    proposal = {"id": secrets.token_hex(16), "type": "genesis", "body": {"members": members, "quorum": quorum},
                "day": dates.today()}
    signatures = [sign_proposal(proposal, k.sign_seed) for _, k in founders]
    record = new_record(LogState(), proposal, signatures, dates.today())
    try:
        apply(LogState(), record)  # refuse a genesis that would not verify
    except LogError as exc:
        raise DecisionRefused(str(exc)) from None
    with store.write() as tx:
        log_rows.append_record(tx, record)
    head = crypto.log.digest(record)
    readers.pin_genesis(store, head)
    return head


def genesis_from_accounts(store: Store, founders: list[tuple[str, str]], quorum: int, until: int | None = None) -> str:
    """Genesis from coordinator accounts on this server; each founder's passphrase unlocks their key to sign."""
    signed = []
    for handle, passphrase in founders:
        row = account_rows.by_handle(store, handle)
        if row is None:
            raise DecisionRefused(f"no coordinator {handle}")
        try:
            signed.append((handle, crypto.unwrap_with_passphrase(row.wrapped_keys, passphrase)))
        except crypto.CryptoError:
            raise DecisionRefused(f"wrong passphrase for {handle}") from None
    return make_genesis(store, signed, quorum, until)


def has_genesis(store: Store) -> bool:
    return log_rows.record_at(store, 0) is not None


def new_proposal(kind: str, body: dict[str, Any], pid: str | None = None) -> dict[str, Any]:
    if kind not in QUORUM_TYPES and kind != "dispute":
        raise ValueError("unknown decision type")
    return {"id": pid or secrets.token_hex(16), "type": kind, "body": body, "day": dates.today()}


def propose(store: Store, settings: Settings, keys: KeyPair | None, proposal: dict[str, Any]) -> bool:
    """Store a proposal signed by its proposer (if any) and make it final if that is enough."""
    signatures = [sign_proposal(proposal, keys.sign_seed, current(store))] if keys else []
    with store.write() as tx:
        log_rows.insert_proposal(tx, proposal, signatures)
    return finalize(store, settings, proposal["id"], keys)


def sign(store: Store, settings: Settings, pid: str, keys: KeyPair) -> bool:
    """Add this keyholder's signature; returns True if the decision is now final."""
    return add_signature(store, settings, pid, None, keys)


def add_signature(store: Store, settings: Settings, pid: str, signature: dict[str, str] | None,
                  keys: KeyPair | None = None) -> bool:
    """Add a signature made here (keys) or brought from offline (signature)."""
    with store.write() as tx:
        pending = log_rows.proposal(store, pid)
        if pending is None or pending.state != "pending":
            if signature is not None:
                raise DecisionRefused("no such pending decision")
            return False
        state = current(store)
        signature = signature or sign_proposal(pending.proposal, keys.sign_seed if keys else b"", state)
        if not signature_valid(pending.proposal, signature, state):
            raise DecisionRefused("the signature does not match this proposal and this log")
        member = state.members.get(signature["signer"])
        renewal = pending.proposal["type"] == "renew_member"
        if member is None or not (member.active(dates.today()) or renewal):
            raise DecisionRefused("the signer is not a current member")
        others = [s for s in pending.signatures if s["signer"] != signature["signer"]]
        log_rows.update_proposal(tx, pid, [*others, signature], pending.declines, "pending")
    return finalize(store, settings, pid, keys)


def decline(store: Store, pid: str, keys: KeyPair) -> None:
    """Record a refusal; a proposal that can no longer reach quorum is closed as declined."""
    state = current(store)
    with store.write() as tx:
        pending = log_rows.proposal(store, pid)
        if pending is None or pending.state != "pending":
            return
        me = keys.sign_public.hex()
        declines = sorted({*pending.declines, me})
        signatures = [s for s in pending.signatures if s["signer"] != me]
        still_possible = len([m for m in state.active_members(dates.today()) if m.sign not in declines])
        outcome = "declined" if still_possible < state.quorum else "pending"
        log_rows.update_proposal(tx, pid, signatures, declines, outcome)


def finalize(store: Store, settings: Settings, pid: str, keys: KeyPair | None = None) -> bool:
    """Append the proposal to the log if a quorum has signed. Exactly once, under the write lock.

    DecisionRefused if it can never take effect (it is closed as refused, and the reason said).
    """
    refused: str | None = None
    with store.write() as tx:
        pending = log_rows.proposal(store, pid)
        if pending is None or pending.state != "pending":
            return False
        # A write that changes the log verifies all of it first, not just what this process has seen.
        state = readers.full_verify(store)
        today = dates.today()
        kind = pending.proposal["type"]
        signers = state.valid_signers(pending.proposal, pending.signatures, today, lapsed_too=kind == "renew_member")
        if kind in QUORUM_TYPES and len(signers) < state.quorum:
            return False
        counted = [s for s in pending.signatures if s["signer"] in signers]
        record = new_record(state, pending.proposal, counted, today)
        try:
            after = apply(state, record)
            effects.check_possible(store, pending.proposal)
        except (LogError, Refused) as exc:
            # It can never apply (e.g. the offer went to someone else): close it, say why.
            log_rows.update_proposal(tx, pid, pending.signatures, pending.declines, "refused")
            refused = str(exc)
        else:
            log_rows.append_record(tx, record)
            log_rows.update_proposal(tx, pid, counted, pending.declines, "final")
            effects.on_final(store, tx, settings, pending.proposal, keys)
    if refused is not None:
        raise DecisionRefused(refused)
    readers.remember(store, after)
    return True


def kind_of(store: Store, pid: str) -> str | None:
    """The type of a stored proposal (None if there is none with this id)."""
    found = log_rows.proposal(store, pid)
    return str(found.proposal["type"]) if found else None
