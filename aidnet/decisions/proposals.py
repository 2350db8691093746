"""The proposal workflow: found the log, propose, sign or decline, and finalize at quorum, exactly once.

Proposals wait in `proposals` until a quorum of current, active members has
signed. A proposal says who made it ("by") and carries their signature; a
member it adds comes as a card signed by its own key (crypto.cards). A row
that fails these checks (the server could have written it) is shown as
tampered and nobody can sign it (crypto.log.pending_problem).

The write that makes one final verifies the whole log again and re-reads the
proposal inside one locked transaction, so two keyholders signing at once
finalize it exactly once; the finalizing member seals its exact place in the
log (crypto.log). Without keys at hand (signatures brought from offline) a
decision with its quorum waits until a member signed in to the web makes it
final (finalize_ready), unless an offline signer's seal fits the place it
lands in. A decision's effects (decisions.effects) commit in that same
transaction. After a membership decision (MEMBERSHIP_TYPES) the readers have
changed: whoever made it final re-seals what they can open (sealing.reseal;
the web does it a few seconds a page).
"""

from __future__ import annotations

import secrets
from typing import Any

import crypto
from crypto import KeyPair
from crypto.cards import make_card
from crypto.log import (
    QUORUM_TYPES,
    REQUESTER,
    THRESHOLD_TYPES,
    LogError,
    LogState,
    apply,
    member_entry,
    new_record,
    pending_problem,
    sign_proposal,
    signature_valid,
)

from .. import dates
from ..config import Settings
from ..errors import DecisionRefused as DecisionRefused  # re-exported: callers know it as proposals.DecisionRefused
from ..errors import Refused
from ..sealing import readers
from ..sealing.readers import current
from ..store import Store, counters
from ..store import accounts as account_rows
from ..store import decision_log as log_rows
from . import effects

MEMBERSHIP_TYPES = frozenset({"add_member", "remove_member", "rotate_key", "renew_member"})


def make_genesis(store: Store, founders: list[tuple[str, KeyPair]], quorum: int, until: int | None = None) -> str:
    """Write the first record: founders' self-signed cards and the quorum, signed by every founder.

    The group it founds is sealed (crypto.log): every later record must carry the seal of its place.
    """
    if log_rows.records(store):
        raise DecisionRefused("the log already has a genesis")
    try:
        members = [member_entry(make_card(h, k), until) for h, k in founders]
    except crypto.CryptoError as exc:
        raise DecisionRefused(str(exc)) from None
    proposal = {"id": secrets.token_hex(16), "type": "genesis",
                "body": {"members": members, "quorum": quorum, "sealed": True}, "day": dates.today()}
    signatures = [sign_proposal(proposal, k.sign_seed) for _, k in founders]
    record = new_record(LogState(), proposal, signatures, dates.today())
    try:
        state = apply(LogState(), record)  # refuse a genesis that would not verify
    except LogError as exc:
        raise DecisionRefused(str(exc)) from None
    with store.write() as tx:
        log_rows.append_record(tx, record)
    readers.pin_genesis(store, state.genesis)
    readers.pin_head(store, state)
    return state.genesis


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


def new_proposal(kind: str, body: dict[str, Any], by: KeyPair | None = None, pid: str | None = None) -> dict[str, Any]:
    """A proposal made by the member whose keys these are (None: by a requester, for a dispute)."""
    if kind not in QUORUM_TYPES | THRESHOLD_TYPES and kind != "dispute":
        raise ValueError("unknown decision type")
    return {"id": pid or secrets.token_hex(16), "type": kind, "body": body, "day": dates.today(),
            "by": by.sign_public.hex() if by is not None else REQUESTER}


def propose(store: Store, settings: Settings, keys: KeyPair | None, proposal: dict[str, Any]) -> bool:
    """Store a proposal signed by its proposer (if any) and make it final if that is enough.

    A money allocation's exact amount is kept outside the log (counters.keep_where); the log carries only
    its 1-2-5 band, so whoever holds the log cannot read the exact amounts the releases add noise to.
    """
    state = current(store)
    kept = _keep(store, keys, proposal)
    _not_twice(store, proposal, kept[2] if kept else None, keys)
    signatures = [sign_proposal(proposal, keys.sign_seed, state, today=dates.today())] if keys else []
    problem = pending_problem(state, proposal, signatures, dates.today())
    if problem is not None or proposal.get("by") != (keys.sign_public.hex() if keys else REQUESTER):
        raise DecisionRefused(problem or "a proposal is signed by the one who makes it")
    with store.write() as tx:
        log_rows.insert_proposal(tx, proposal, signatures)
        if kept is not None:
            counters.keep_where(tx, proposal["id"], *kept)
    return finalize(store, settings, proposal["id"], keys)


def _keep(store: Store, keys: KeyPair | None, proposal: dict[str, Any]) -> tuple[str | None, str | None, int | None] | None:
    """What to keep beside a new allocation or hand-over; coarsens a money amount in the proposal itself."""
    if proposal["type"] == "receipt":  # its category is in the log; a money amount only as its band
        amount = proposal["body"].get("amount")
        if proposal["body"].get("kind") != "money" or not isinstance(amount, int) or isinstance(amount, bool) \
                or amount < 1:
            return None
        proposal["body"]["amount"] = effects.band(amount)
        return str(proposal["body"].get("category")), None, amount
    if proposal["type"] not in ("allocation", "distribution"):
        return None
    category = area = None
    if keys is not None:
        found = effects.where(store, str(proposal["body"].get("request", "")), keys)
        if found != (effects.UNKNOWN, effects.UNKNOWN):
            category, area = found
    source = proposal["body"].get("source") or {}
    amount = None
    if proposal["type"] == "allocation" and source.get("kind") == "money" and isinstance(source.get("amount"), int) \
            and not isinstance(source.get("amount"), bool) and source["amount"] >= 1:
        amount = source["amount"]
        source["amount"] = effects.band(amount)
    return (category, area, amount) if category or amount else None


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The same decision, whatever its note: same type, same body."""
    def bare(p: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        return p["type"], {k: v for k, v in p["body"].items() if k != "note"}
    return bare(a) == bare(b)


def _not_twice(store: Store, proposal: dict[str, Any], amount: int | None = None,
               keys: KeyPair | None = None) -> None:
    """DecisionRefused for a decision already waiting for signatures, a hand-over already recorded, or money
    its request's category does not hold (effects.NotEnoughMoney, itself a DecisionRefused)."""
    exact = amount or effects.exact_amount(store, proposal)
    if any(_same(p.proposal, proposal) and effects.exact_amount(store, p.proposal) == exact
           for p in log_rows.proposals(store)):
        raise DecisionRefused("the same decision is already waiting for signatures")
    try:
        effects.check_possible(store, proposal, amount, keys)
    except (effects.HandedOverAlready, effects.AllocationDeclined) as exc:
        raise DecisionRefused(str(exc)) from None


def sign(store: Store, settings: Settings, pid: str, keys: KeyPair) -> bool:
    """Add this keyholder's signature; returns True if the decision is now final."""
    return add_signature(store, settings, pid, None, keys)


def add_signature(store: Store, settings: Settings, pid: str, signature: dict[str, Any] | None,
                  keys: KeyPair | None = None, seal: dict[str, Any] | None = None) -> bool:
    """Add a signature made here (keys) or brought from offline (signature, with the seal it may carry)."""
    today = dates.today()
    with store.write() as tx:
        pending = log_rows.proposal(store, pid)
        if pending is None or pending.state != "pending":
            if signature is not None:
                raise DecisionRefused("no such pending decision")
            return False
        state = current(store)
        problem = pending_problem(state, pending.proposal, pending.signatures, today)
        if problem is not None:
            raise DecisionRefused(f"this proposal cannot be signed: {problem}")
        signature = signature or sign_proposal(pending.proposal, keys.sign_seed if keys else b"", state, today=today)
        if not signature_valid(pending.proposal, signature, state, today):
            raise DecisionRefused("the signature does not match this proposal and this log, or its last day is past")
        member = state.members.get(signature["signer"])
        if member is None or not member.active(today):
            raise DecisionRefused("the signer is not a current member")
        others = [s for s in pending.signatures if s["signer"] != signature["signer"]]
        log_rows.update_proposal(tx, pid, [*others, signature], pending.declines, "pending")
    return finalize(store, settings, pid, keys, seal)


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


def _fitting_seal(state: LogState, seal: dict[str, Any] | None, today: int) -> dict[str, Any] | None:
    """An offline signer's seal, if it was made for the very place the decision lands in now."""
    if not isinstance(seal, dict) or seal.get("seq") != state.seq + 1 or seal.get("prev") != state.head:
        return None
    day = seal.get("day")
    if not isinstance(day, int) or isinstance(day, bool) or not state.day <= day <= today:
        return None
    return seal


def finalize(store: Store, settings: Settings, pid: str, keys: KeyPair | None = None,
             seal: dict[str, Any] | None = None) -> bool:
    """Append the proposal to the log if a quorum has signed and a member seals its place. Exactly once.

    False if it is not final yet (short of signatures, or nobody with keys at hand to seal it: then it
    waits for finalize_ready). DecisionRefused if it can never take effect (closed as refused).
    """
    refused: DecisionRefused | None = None
    with store.write() as tx:
        pending = log_rows.proposal(store, pid)
        if pending is None or pending.state != "pending":
            return False
        # A write that changes the log verifies all of it first, not just what this process has seen.
        state = readers.full_verify(store)
        today = dates.today()
        kind = pending.proposal["type"]
        signers = state.valid_signers(pending.proposal, pending.signatures, today)
        required = state.required(pending.proposal)
        if len(signers) < required:
            return False
        counted = [s for s in pending.signatures if s["signer"] in signers]
        if keys is not None and keys.sign_public.hex() in state.members and (
                required == 0 or keys.sign_public.hex() in signers):
            record = new_record(state, pending.proposal, counted, today, sealer=keys)
        else:
            offline = _fitting_seal(state, seal, today)
            if offline is None and state.sealed:
                return False  # its quorum is there; it waits for a member to seal its place (finalize_ready)
            record = new_record(state, pending.proposal, counted, offline["day"] if offline else today)
            if offline is not None:
                record["seal"] = {"signer": offline.get("signer"), "sig": offline.get("sig")}
        try:
            after = apply(state, record)
            effects.check_possible(store, pending.proposal, keys=keys)
        except (LogError, Refused) as exc:
            if seal is not None and keys is None and "seal" in str(exc):
                return False  # the offline seal did not hold here: a member in the web finalizes it
            # It can never apply (e.g. the offer went to someone else): close it, say why.
            log_rows.update_proposal(tx, pid, pending.signatures, pending.declines, "refused")
            counters.take_where(tx, pid)
            # Kept whole: the web says what a refusal with details holds (effects.NotEnoughMoney) in its language.
            refused = exc if isinstance(exc, DecisionRefused) else DecisionRefused(str(exc))
        else:
            log_rows.append_record(tx, record)
            log_rows.update_proposal(tx, pid, counted, pending.declines, "final")
            effects.on_final(store, tx, settings, pending.proposal, keys)
            if kind in MEMBERSHIP_TYPES and keys is None:  # nobody here to re-seal: the next keyholder in does
                log_rows.mark_reseal_due(tx, pid)
    if refused is not None:
        raise refused
    readers.remember(store, after)
    readers.pin_head(store, after)
    return True


def ready(store: Store) -> list[str]:
    """Pending decisions that have their quorum and wait only for a member to seal their place."""
    state = current(store)
    today = dates.today()
    return [p.id for p in log_rows.proposals(store)
            if len(state.valid_signers(p.proposal, p.signatures, today)) >= state.required(p.proposal)]


def finalize_ready(store: Store, settings: Settings, keys: KeyPair) -> list[str]:
    """Make final, with these keys, every decision that has its signatures; the types of those made final."""
    done = []
    for pid in ready(store):
        kind = kind_of(store, pid)
        try:
            if finalize(store, settings, pid, keys):
                done.append(str(kind))
        except DecisionRefused:
            continue  # closed as refused, with its reason kept; the others still go
    return done


def kind_of(store: Store, pid: str) -> str | None:
    """The type of a stored proposal (None if there is none with this id)."""
    found = log_rows.proposal(store, pid)
    return str(found.proposal["type"]) if found else None


def reseal_due(store: Store) -> list[str]:
    """Membership decisions whose re-seal waits for a keyholder (made final from offline signatures)."""
    return log_rows.reseal_due(store)


def resealed(store: Store, pids: list[str]) -> None:
    """A re-seal that started after these decisions has finished: they no longer wait for one."""
    with store.write() as tx:
        log_rows.clear_reseal_due(tx, pids)


def reseal_wanted(store: Store, settings: Settings, keys: KeyPair) -> bool:
    """For a member signed in: make final what has its signatures; True if the readers changed and open
    records should now be re-sealed with these keys (a membership just made final, or one waiting)."""
    if keys.sign_public.hex() not in current(store).members:
        return False
    made = finalize_ready(store, settings, keys)
    return any(kind in MEMBERSHIP_TYPES for kind in made) or bool(reseal_due(store))
