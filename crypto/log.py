"""The decision log: canonical entries, a hash chain, quorum signatures, and a seal on every place.

A *proposal* is what keyholders sign: {"id", "type", "body", "day", "by"}. Its
id is random, so the same decision can never be counted twice (a replay is
caught); "by" is the proposer's signing key ("requester" for a requester's
dispute), and the proposer's own signature comes with it. A *record* is a
proposal made final: {"seq", "prev", "day", "proposal", "signatures", "seal"};
"prev" is the hash of the record before it. Anyone holding the records and
the genesis hash replays them with `verify` and gets the same state: members,
quorum, open disputes, decisions.

A signature covers the genesis hash (it means nothing in another group's
log), the proposal, the head of the log its signer had verified ("seen"),
and the last day it may count ("until"): a signature kept back cannot
finalize a decision a year later. Keyholders sign while other decisions land,
so a signature cannot know where its decision will go. The *seal* does: the
member who makes a decision final (one of its signers, with keys at hand)
signs its exact place — genesis, seq, prev and day — with the proposal. So a
server that drops, reorders or re-chains any finalized record breaks the seal
of every record after it, and one that cuts records off the end is caught by
whoever remembers a head it saw (`verify(..., head=H)`).

A group founded by this version ("sealed": true in the genesis) requires a
seal on every record, an expiry on every signature, a self-signed card
(crypto.cards) for every member and an attributed proposal. A log founded
before keeps verifying as it did; once one of its records carries a seal,
every later one must.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import nacl.exceptions
import nacl.signing

from . import strictjson
from .cards import Card, card_signature_valid, rotation_signature_valid
from .errors import CryptoError
from .hashing import blake2b
from .keys import KeyPair
from .logschema import SchemaError, check_body, check_member, is_id, is_key, is_signature

VERSION = 2
SIGNATURE_CONTEXT = b"aidnet-log-v1 sign "
SIGNATURE_CONTEXT_2 = b"aidnet-log-v2 sign\x00"
SEAL_CONTEXT = b"aidnet-log-v2 seal\x00"
# How long a signature counts, from the day it is made, unless the signer says otherwise.
SIGNATURE_DAYS = 30
# Decision types that need a quorum of current, active members.
QUORUM_TYPES = frozenset({
    "add_member", "remove_member", "rotate_key", "set_quorum", "renew_member",
    "allocation", "distribution", "resolution", "impact_update",
})
# Entries anyone affected may add: a dispute needs no quorum, only a reference.
OPEN_TYPES = frozenset({"dispute"})
ALL_TYPES = QUORUM_TYPES | OPEN_TYPES | {"genesis"}
REQUESTER = "requester"
RECORD_KEYS = {"seq", "prev", "day", "proposal", "signatures"}
PROPOSAL_KEYS = {"id", "type", "body", "day"}


class LogError(CryptoError):
    """The log does not verify; the message says which record and why (no content)."""


def canonical(obj: Any) -> bytes:
    """Canonical JSON: sorted keys, no spaces, UTF-8. Floats are refused (not canonical)."""
    def check(value: Any) -> None:
        if isinstance(value, float):
            raise LogError("floats are not allowed in log entries")
        if isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise LogError("keys must be strings")
                check(item)
        elif isinstance(value, list | tuple):
            for item in value:
                check(item)
    check(obj)
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def parse(data: str | bytes) -> Any:
    """A log, bundle or signatures file read strictly (crypto.strictjson); LogError if it is not strict JSON."""
    try:
        return strictjson.loads(data)
    except strictjson.StrictJSONError as exc:
        raise LogError(str(exc)) from None


def digest(obj: Any) -> str:
    return digest_canonical(canonical(obj))


def digest_canonical(encoded: bytes) -> str:
    """digest() of a record already in canonical form (as the log table stores it)."""
    return blake2b(encoded, b"aidnet-log").hex()


def _message(genesis: str, proposal_digest: bytes, seen: str, until: int | None) -> bytes:
    if until is None:  # a signature made before signatures expired (version 1)
        return SIGNATURE_CONTEXT + bytes.fromhex(genesis) + proposal_digest + bytes.fromhex(seen)
    return SIGNATURE_CONTEXT_2 + bytes.fromhex(genesis) + proposal_digest + bytes.fromhex(seen) + struct.pack(">q", until)


def _seal_message(genesis: str, seq: int, prev: str, day: int, proposal_digest: bytes) -> bytes:
    return SEAL_CONTEXT + bytes.fromhex(genesis) + struct.pack(">qq", seq, day) + bytes.fromhex(prev) + proposal_digest


def _proposal_digest(proposal: Mapping[str, Any]) -> bytes:
    return bytes.fromhex(digest(proposal))


def sign_proposal(proposal: Mapping[str, Any], sign_seed: bytes, state: LogState | None = None,
                  today: int | None = None, days: int = SIGNATURE_DAYS) -> dict[str, Any]:
    """A keyholder's signature: {"signer", "sig", "seen", "until"}, bound to state's genesis and head.

    Sign with the state you verified yourself; a genesis proposal is signed with no state. It counts
    until `days` after today (the proposal's own day when today is not given).
    """
    key = nacl.signing.SigningKey(sign_seed)
    genesis, seen = (state.genesis, state.head) if state is not None and state.seq >= 0 else ("", "")
    start = today if today is not None else int(proposal.get("day", 0))
    until = start + days
    signature = key.sign(_message(genesis, _proposal_digest(proposal), seen, until)).signature
    return {"signer": bytes(key.verify_key).hex(), "sig": signature.hex(), "seen": seen, "until": until}


def seal_record(record: Mapping[str, Any], genesis: str, sign_seed: bytes) -> dict[str, str]:
    """The finalizer's seal on a record's exact place: {"signer", "sig"}."""
    key = nacl.signing.SigningKey(sign_seed)
    message = _seal_message(genesis, record["seq"], record["prev"], record["day"], _proposal_digest(record["proposal"]))
    return {"signer": bytes(key.verify_key).hex(), "sig": key.sign(message).signature.hex()}


def _day(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**6


def _well_formed(signature: Any) -> bool:
    return (isinstance(signature, Mapping) and set(signature) in ({"signer", "sig", "seen"},
                                                                  {"signer", "sig", "seen", "until"})
            and is_key(signature["signer"]) and is_signature(signature["sig"])
            and (signature["seen"] == "" or is_key(signature["seen"]))
            and ("until" not in signature or _day(signature["until"])))


def _in_date(signature: Mapping[str, Any], day: int | None) -> bool:
    until = signature.get("until")
    return day is None or until is None or day <= until


def _holds(proposal_digest: bytes, signature: Any, state: LogState | None) -> bool:
    """The signature is well formed, made for this group (state's genesis) over the proposal with this digest,
    and names as seen a head that is really in state's log (its last day is not looked at here)."""
    if not _well_formed(signature):
        return False
    genesis = state.genesis if state is not None else ""
    if state is not None and genesis and signature["seen"] not in state.hashes:
        return False
    if not genesis and signature["seen"] != "":
        return False
    try:
        key = nacl.signing.VerifyKey(bytes.fromhex(signature["signer"]))
        key.verify(_message(genesis, proposal_digest, signature["seen"], signature.get("until")),
                   bytes.fromhex(signature["sig"]))
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        return False
    return True


def signature_valid(proposal: Mapping[str, Any], signature: Any, state: LogState | None = None,
                    day: int | None = None) -> bool:
    """True if signature is well formed, made for this group (state's genesis) over proposal, names as seen
    a head that is really in state's log, and (given day) still counts on that day."""
    return _well_formed(signature) and _in_date(signature, day) and _holds(_proposal_digest(proposal), signature, state)


def seal_valid(record: Mapping[str, Any], genesis: str, proposal_digest: bytes | None = None) -> bool:
    seal = record.get("seal")
    if not (isinstance(seal, Mapping) and set(seal) == {"signer", "sig"} and is_key(seal["signer"])
            and isinstance(seal["sig"], str) and len(seal["sig"]) == 128):
        return False
    try:
        pd = proposal_digest if proposal_digest is not None else _proposal_digest(record["proposal"])
        message = _seal_message(genesis, record["seq"], record["prev"], record["day"], pd)
        nacl.signing.VerifyKey(bytes.fromhex(seal["signer"])).verify(message, bytes.fromhex(seal["sig"]))
    except (nacl.exceptions.CryptoError, ValueError, TypeError, KeyError):
        return False
    return True


@dataclass(frozen=True)
class Member:
    handle: str
    box: str  # X25519 public key, hex
    sign: str  # Ed25519 public key, hex
    until: int | None = None  # last day of the term; None: no sunset
    card_sig: str | None = None  # the card's own signature (crypto.cards); None in a log founded before cards

    def active(self, day: int) -> bool:
        return self.until is None or day <= self.until

    @property
    def card(self) -> Card | None:
        return Card(self.handle, self.box, self.sign, self.card_sig) if self.card_sig else None

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"handle": self.handle, "box": self.box, "sign": self.sign, "until": self.until}
        if self.card_sig is not None:
            found["card_sig"] = self.card_sig
        return found


def member_entry(card: Card, until: int | None) -> dict[str, Any]:
    """A member as a decision carries it: the self-signed card, and the term the group gives it."""
    return {"handle": card.handle, "box": card.box, "sign": card.sign, "until": until, "card_sig": card.sig}


def _member(data: Any, need_card: bool) -> Member:
    try:
        check_member(data)
    except SchemaError as exc:
        raise LogError(str(exc)) from None
    card_sig = data.get("card_sig")
    if card_sig is None and need_card:
        raise LogError("a member without a card signed by its own key")
    if card_sig is not None and not card_signature_valid(data["handle"], data["box"], data["sign"], card_sig):
        raise LogError("a member card whose signature does not match its keys")
    return Member(data["handle"], data["box"], data["sign"], data["until"], card_sig)


@dataclass(frozen=True)
class LogState:
    """What the verified log says now."""

    seq: int = -1
    head: str = ""
    day: int = 0
    genesis: str = ""
    members: dict[str, Member] = field(default_factory=dict)  # by signing key hex
    quorum: int = 0
    seen: frozenset[str] = frozenset()  # proposal ids already in the log
    hashes: frozenset[str] = frozenset()  # every record hash so far: what a signer may have seen
    decisions: dict[str, str] = field(default_factory=dict)  # proposal id -> type
    open_disputes: dict[str, str] = field(default_factory=dict)  # dispute id -> decision id
    sealed: bool = False  # every record from here on must carry a seal (and the rest of version 2)

    def active_members(self, day: int) -> list[Member]:
        return [m for m in self.members.values() if m.active(day)]

    def recipients(self, day: int) -> list[bytes]:
        """X25519 keys new records are sealed to on day: the active members, nobody else."""
        return [bytes.fromhex(m.box) for m in sorted(self.active_members(day), key=lambda m: m.sign)]

    def valid_signers(self, proposal: Mapping[str, Any], signatures: Iterable[Any], day: int) -> set[str]:
        """Distinct members active on day whose signature over proposal is valid and still counts on day."""
        proposal_digest = _proposal_digest(proposal)
        signers = set()
        for signature in signatures:
            if not _well_formed(signature):
                continue
            member = self.members.get(signature["signer"])
            if member and member.active(day) and _in_date(signature, day) and _holds(proposal_digest, signature, self):
                signers.add(member.sign)
        return signers


def _apply_body(state: LogState, kind: str, body: Mapping[str, Any], pid: str, day: int) -> LogState:
    members = dict(state.members)
    quorum: Any = state.quorum
    disputes = dict(state.open_disputes)
    if kind == "add_member":
        member = _member(body.get("member"), state.sealed)
        if member.sign in members or any(m.box == member.box for m in members.values()):
            raise LogError("member already present")
        members[member.sign] = member
    elif kind == "remove_member":
        if body.get("sign") not in members:
            raise LogError("removing a non-member")
        del members[str(body["sign"])]
    elif kind == "rotate_key":
        old = members.pop(str(body.get("old_sign")), None)
        new = _member(body.get("member"), state.sealed)
        if old is None or new.sign in members:
            raise LogError("bad key rotation")
        if (state.sealed or "old_sig" in body) and not (new.card and rotation_signature_valid(old.sign, new.card,
                                                                                              body.get("old_sig"))):
            raise LogError("a key rotation the old key did not sign")
        members[new.sign] = new
    elif kind == "set_quorum":
        quorum = body.get("quorum")  # checked below against the member count
    elif kind == "renew_member":
        renewed = members.get(str(body.get("sign")))
        until = body.get("until")
        if renewed is None or not (until is None or _day(until)):
            raise LogError("bad renewal")
        members[renewed.sign] = replace(renewed, until=until)
    elif kind in ("allocation", "distribution"):
        if kind == "distribution" and state.decisions.get(str(body.get("allocation"))) != "allocation":
            raise LogError("distribution must reference an allocation")
    elif kind == "dispute":
        if state.decisions.get(str(body.get("decision"))) not in ("allocation", "distribution"):
            raise LogError("dispute must reference an allocation or a hand-over")
        if str(body.get("decision")) in disputes.values():
            raise LogError("that decision already has an open dispute")
        disputes[pid] = str(body["decision"])
    elif kind == "resolution":
        if str(body.get("dispute")) not in disputes:
            raise LogError("resolution must reference an open dispute")
        del disputes[str(body["dispute"])]
    if not isinstance(quorum, int) or isinstance(quorum, bool) or not 1 <= quorum <= len(members):
        raise LogError("quorum must be between 1 and the number of members")
    decisions = dict(state.decisions)
    decisions[pid] = kind
    return replace(state, members=members, quorum=quorum, open_disputes=disputes, decisions=decisions)


def _shape(record: Mapping[str, Any], where: str) -> tuple[int, str, int, dict[str, Any], list[Any]]:
    try:
        seq, prev, day = record["seq"], record["prev"], record["day"]
        proposal, signatures = record["proposal"], record["signatures"]
        if not set(RECORD_KEYS) <= set(record) <= RECORD_KEYS | {"seal"}:
            raise LogError(f"{where}: unexpected fields")
        if not isinstance(proposal, dict) or not PROPOSAL_KEYS <= set(proposal) <= PROPOSAL_KEYS | {"by"}:
            raise LogError(f"{where}: unexpected fields")
        pid, kind, body = proposal["id"], proposal["type"], proposal["body"]
        if (not isinstance(signatures, list) or not isinstance(body, dict) or not _day(day) or not _day(proposal["day"])
                or not isinstance(seq, int) or isinstance(seq, bool) or not isinstance(prev, str)):
            raise LogError(f"{where}: malformed")
        # Found by fuzzing: a list as id (unhashable) or a non-object signature escaped as TypeError/AttributeError.
        if not isinstance(pid, str) or not isinstance(kind, str) or not all(isinstance(s, dict) for s in signatures):
            raise LogError(f"{where}: malformed")
        if not is_id(pid):
            raise LogError(f"{where}: malformed id")
        by = proposal.get("by")
        if by is not None and by != REQUESTER and not is_key(by):
            raise LogError(f"{where}: malformed proposer")
        check_body(kind, body)
    except SchemaError as exc:
        raise LogError(f"{where}: {exc}") from None
    except (KeyError, TypeError) as exc:
        raise LogError(f"{where}: malformed ({type(exc).__name__})") from None
    return seq, prev, day, proposal, signatures


def apply(state: LogState, record: Mapping[str, Any]) -> LogState:
    """Check one record against the state before it and return the state after it."""
    where = f"record {state.seq + 1}"
    seq, prev, day, proposal, signatures = _shape(record, where)
    pid, kind = proposal["id"], proposal["type"]
    if seq != state.seq + 1:
        raise LogError(f"{where}: out of order (says {seq})")
    if prev != state.head:
        raise LogError(f"{where}: does not follow the record before it (hash chain broken)")
    if day < state.day:
        raise LogError(f"{where}: dated before the record before it")
    if kind not in ALL_TYPES:
        raise LogError(f"{where}: unknown type")
    if pid in state.seen:
        raise LogError(f"{where}: replays an earlier decision")
    if kind == "genesis":
        new = _genesis(record, seq, day, proposal, signatures, where)
    else:
        new = _decision(state, record, day, proposal, signatures, where)
    head = digest(record)
    return replace(new, seq=seq, head=head, day=day, seen=state.seen | {pid},
                   genesis=state.genesis or head, hashes=state.hashes | {head})


def _genesis(record: Mapping[str, Any], seq: int, day: int, proposal: Mapping[str, Any], signatures: list[Any],
             where: str) -> LogState:
    if seq != 0:
        raise LogError(f"{where}: a second genesis")
    body = proposal["body"]
    sealed = body.get("sealed", False) is True
    founders = body.get("members")
    if not isinstance(founders, list):  # found by fuzzing: null members escaped as TypeError
        raise LogError(f"{where}: genesis needs members and a quorum between 1 and their number")
    members = {m.sign: m for m in (_member(f, sealed) for f in founders)}
    quorum = body.get("quorum")
    if (not members or len(members) != len(founders) or not isinstance(quorum, int) or isinstance(quorum, bool)
            or not 1 <= quorum <= len(members)):
        raise LogError(f"{where}: genesis needs members and a quorum between 1 and their number")
    if "seal" in record:
        raise LogError(f"{where}: a genesis is signed by every founder, not sealed")
    # Every founder signs the founding itself, whatever term the group gives them from then on.
    founding = LogState(members={k: replace(m, until=None) for k, m in members.items()}, quorum=len(members))
    if len(signatures) != len(members) or founding.valid_signers(proposal, signatures, day) != set(members):
        raise LogError(f"{where}: genesis must be signed by every founding member")
    if sealed and any("until" not in s for s in signatures):
        raise LogError(f"{where}: a signature without an expiry")
    return LogState(members=members, quorum=quorum, decisions={proposal["id"]: "genesis"}, sealed=sealed)


def _decision(state: LogState, record: Mapping[str, Any], day: int, proposal: Mapping[str, Any],
              signatures: list[Any], where: str) -> LogState:
    if state.seq < 0:
        raise LogError(f"{where}: the log must start with a genesis")
    kind = proposal["type"]
    proposal_digest = _proposal_digest(proposal)  # one hash of the proposal for all its signatures and its seal
    for signature in signatures:
        if not _well_formed(signature):
            raise LogError(f"{where}: a malformed signature")
        if signature["signer"] not in state.members:
            raise LogError(f"{where}: signature from a non-member")
        if not _holds(proposal_digest, signature, state):
            raise LogError(f"{where}: a signature does not match this decision and this log")
        if not _in_date(signature, day):
            raise LogError(f"{where}: a signature used after its last day")
        if state.sealed and "until" not in signature:
            raise LogError(f"{where}: a signature without an expiry")
    if len({s["signer"] for s in signatures}) != len(signatures):
        raise LogError(f"{where}: the same signer twice")
    # Every signature holds and counts on this day (else refused above): the signers are those still active.
    signers = {s["signer"] for s in signatures if state.members[s["signer"]].active(day)}
    if kind in QUORUM_TYPES and len(signers) < state.quorum:
        raise LogError(f"{where}: {len(signers)} of {state.quorum} required signatures from active members")
    by = proposal.get("by")
    if state.sealed and by is None:
        raise LogError(f"{where}: a proposal that does not say who made it")
    if by == REQUESTER and kind not in OPEN_TYPES:
        raise LogError(f"{where}: only a dispute may come from a requester")
    if by not in (None, REQUESTER) and by not in signers:
        raise LogError(f"{where}: its proposer did not sign it")
    sealed = state.sealed or "seal" in record
    if sealed:
        seal = record.get("seal")
        sealer = state.members.get(str(seal.get("signer"))) if isinstance(seal, Mapping) else None
        if not seal_valid(record, state.genesis, proposal_digest):
            raise LogError(f"{where}: its seal does not hold (the record was moved, dropped around or re-chained)")
        if sealer is None or not sealer.active(day) or (kind in QUORUM_TYPES and sealer.sign not in signers):
            raise LogError(f"{where}: sealed by someone who did not make it final")
    try:
        new = _apply_body(state, kind, proposal["body"], proposal["id"], day)
    except LogError as exc:
        raise LogError(f"{where}: {exc}") from None
    except (TypeError, ValueError, AttributeError, KeyError) as exc:  # found by fuzzing: e.g. a list as a key
        raise LogError(f"{where}: malformed body ({type(exc).__name__})") from None
    return replace(new, sealed=sealed)


def verify(records: Any, genesis: str | None = None, head: str | None = None) -> LogState:
    """Replay the whole log; LogError on the first record that does not hold.

    genesis pins the first record's hash, so a whole substituted log is caught
    too; head is a head seen before (remembered by the server, a keyholder or an
    auditor): the log must still hold it, or records were cut off or replaced.
    """
    state = LogState()
    if not isinstance(records, list):
        raise LogError("a log is a list of records")
    for record in records:
        if not isinstance(record, Mapping):
            raise LogError(f"record {state.seq + 1}: malformed")
        state = apply(state, record)
    if state.seq < 0:
        raise LogError("the log is empty")
    if genesis is not None and state.genesis != genesis:
        raise LogError("the genesis is not the expected one")
    if head is not None and head not in state.hashes:
        raise LogError("the log does not extend the head seen before: records were cut off or replaced")
    return state


def new_record(state: LogState, proposal: Mapping[str, Any], signatures: list[dict[str, Any]], day: int,
               sealer: KeyPair | None = None) -> dict[str, Any]:
    """The record that appends proposal to the log after state (check it with apply); sealed by sealer."""
    ordered = sorted(signatures, key=lambda s: s["signer"])
    record: dict[str, Any] = {"seq": state.seq + 1, "prev": state.head, "day": max(day, state.day),
                              "proposal": dict(proposal), "signatures": ordered}
    if sealer is not None and state.seq >= 0:
        record["seal"] = seal_record(record, state.genesis, sealer.sign_seed)
    return record


def pending_problem(state: LogState, proposal: Any, signatures: Any, day: int) -> str | None:
    """Why a pending proposal may not be signed (None: it may): each reason a person can read.

    A proposal must say who made it and carry their valid signature (a requester's dispute excepted), and
    a member it adds or rotates to must come with a card signed by its own key (and, for a rotation, by the
    old key). A row the server could have written itself fails here, so no keyholder signs it.
    """
    if not isinstance(proposal, Mapping) or not isinstance(signatures, list):
        return "malformed"
    try:
        if not PROPOSAL_KEYS <= set(proposal) <= PROPOSAL_KEYS | {"by"} or not is_id(proposal["id"]):
            return "malformed"
        check_body(proposal["type"], proposal["body"])
    except (SchemaError, KeyError, TypeError):
        return "malformed"
    kind, body, by = proposal["type"], proposal["body"], proposal.get("by")
    if kind not in ALL_TYPES - {"genesis"}:
        return "not a decision that can be proposed"
    if by is None:
        return "it does not say who proposed it"
    if by == REQUESTER:
        return None if kind in OPEN_TYPES else "only a dispute may come from a requester"
    if by not in state.valid_signers(proposal, signatures, day):
        return "its proposer's signature is missing or does not hold: the server may have written it"
    if kind in ("add_member", "rotate_key"):
        member = body.get("member", {})
        if not card_signature_valid(member.get("handle"), member.get("box"), member.get("sign"), member.get("card_sig")):
            return "the member's card is not signed by its own key"
        if kind == "rotate_key":
            card = Card(member["handle"], member["box"], member["sign"], member["card_sig"])
            if not rotation_signature_valid(str(body.get("old_sign")), card, body.get("old_sig")):
                return "the old key did not sign this rotation"
    return None
