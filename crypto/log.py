"""The decision log: canonical entries, a hash chain, quorum signatures.

A *proposal* is what keyholders sign: {"id", "type", "body", "day"}. Its id is
random, so the same decision can never be counted twice (a replay is caught).
A *record* is a proposal made final: {"seq", "prev", "day", "proposal",
"signatures"}; "prev" is the hash of the record before it. Anyone holding the
records (and, to pin it, the genesis hash) can replay them with `verify` and
get the same state: members, quorum, open disputes, decisions.

A signature covers: the genesis hash (so it means nothing in another group's
log), the proposal hash, and the head of the log the signer had verified
when signing ("seen"). Keyholders can sign while other decisions land; but a
server that drops or rewrites a record and re-chains the rest changes the
hashes later signers saw, and the verifier notices. Quorum is checked
against the members of the log at the point the record is appended.
Only the tail after the last signature can be withheld unnoticed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import nacl.exceptions
import nacl.signing

from .errors import CryptoError
from .hashing import blake2b
from .logschema import SchemaError, check_body, check_member, is_id, is_key

VERSION = 1
SIGNATURE_CONTEXT = b"aidnet-log-v1 sign "
# Decision types that need a quorum of current members.
QUORUM_TYPES = frozenset({
    "add_member", "remove_member", "rotate_key", "set_quorum", "renew_member",
    "allocation", "distribution", "resolution",
})
# Entries anyone affected may add: a dispute needs no quorum, only a reference.
OPEN_TYPES = frozenset({"dispute"})
ALL_TYPES = QUORUM_TYPES | OPEN_TYPES | {"genesis"}


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


def digest(obj: Any) -> str:
    return digest_canonical(canonical(obj))


def digest_canonical(encoded: bytes) -> str:
    """digest() of a record already in canonical form (as the log table stores it)."""
    return blake2b(encoded, b"aidnet-log").hex()


def _message(genesis: str, proposal: Mapping[str, Any], seen: str) -> bytes:
    return SIGNATURE_CONTEXT + bytes.fromhex(genesis) + bytes.fromhex(digest(proposal)) + bytes.fromhex(seen)


def sign_proposal(proposal: Mapping[str, Any], sign_seed: bytes, state: LogState | None = None) -> dict[str, str]:
    """A keyholder's signature: {"signer", "sig", "seen"}, bound to state's genesis and head.

    Sign with the state you verified yourself; a genesis proposal is signed with no state.
    """
    key = nacl.signing.SigningKey(sign_seed)
    genesis, seen = (state.genesis, state.head) if state is not None and state.seq >= 0 else ("", "")
    signature = key.sign(_message(genesis, proposal, seen)).signature
    return {"signer": bytes(key.verify_key).hex(), "sig": signature.hex(), "seen": seen}


def _well_formed(signature: Any) -> bool:
    return (isinstance(signature, Mapping) and set(signature) == {"signer", "sig", "seen"}
            and is_key(signature["signer"]) and isinstance(signature["sig"], str) and len(signature["sig"]) == 128
            and (signature["seen"] == "" or is_key(signature["seen"])))


def signature_valid(proposal: Mapping[str, Any], signature: Any, state: LogState | None = None) -> bool:
    """True if signature is well formed, made for this group (state's genesis) over proposal,
    and names as seen a head that is really in state's log."""
    if not _well_formed(signature):
        return False
    genesis = state.genesis if state is not None else ""
    if state is not None and genesis and signature["seen"] not in state.hashes:
        return False
    if not genesis and signature["seen"] != "":
        return False
    try:
        key = nacl.signing.VerifyKey(bytes.fromhex(signature["signer"]))
        key.verify(_message(genesis, proposal, signature["seen"]), bytes.fromhex(signature["sig"]))
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        return False
    return True


@dataclass(frozen=True)
class Member:
    handle: str
    box: str  # X25519 public key, hex
    sign: str  # Ed25519 public key, hex
    until: int | None = None  # last day of the term; None: no sunset

    def active(self, day: int) -> bool:
        return self.until is None or day <= self.until

    def to_json(self) -> dict[str, Any]:
        return {"handle": self.handle, "box": self.box, "sign": self.sign, "until": self.until}


def _member(data: Any) -> Member:
    try:
        check_member(data)
    except SchemaError as exc:
        raise LogError(str(exc)) from None
    return Member(data["handle"], data["box"], data["sign"], data["until"])


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

    def active_members(self, day: int) -> list[Member]:
        return [m for m in self.members.values() if m.active(day)]

    def recipients(self, day: int) -> list[bytes]:
        """X25519 keys new records are sealed to on day: the active members, nobody else."""
        return [bytes.fromhex(m.box) for m in sorted(self.active_members(day), key=lambda m: m.sign)]

    def valid_signers(self, proposal: Mapping[str, Any], signatures: Iterable[Any], day: int,
                      lapsed_too: bool = False) -> set[str]:
        """Distinct members (active on day, unless lapsed_too) whose signature over proposal is valid."""
        signers = set()
        for signature in signatures:
            if not _well_formed(signature):
                continue
            member = self.members.get(signature["signer"])
            if member and (lapsed_too or member.active(day)) and signature_valid(proposal, signature, self):
                signers.add(member.sign)
        return signers


def _apply_body(state: LogState, kind: str, body: Mapping[str, Any], pid: str, day: int) -> LogState:
    members = dict(state.members)
    quorum: Any = state.quorum
    disputes = dict(state.open_disputes)
    if kind == "add_member":
        member = _member(body.get("member"))
        if member.sign in members or any(m.box == member.box for m in members.values()):
            raise LogError("member already present")
        members[member.sign] = member
    elif kind == "remove_member":
        if body.get("sign") not in members:
            raise LogError("removing a non-member")
        del members[str(body["sign"])]
    elif kind == "rotate_key":
        old = members.pop(str(body.get("old_sign")), None)
        new = _member(body.get("member"))
        if old is None or new.sign in members:
            raise LogError("bad key rotation")
        members[new.sign] = new
    elif kind == "set_quorum":
        quorum = body.get("quorum")  # checked below against the member count
    elif kind == "renew_member":
        renewed = members.get(str(body.get("sign")))
        until = body.get("until")
        if renewed is None or not (until is None or isinstance(until, int)):
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
    if not isinstance(quorum, int) or not 1 <= quorum <= len(members):
        raise LogError("quorum must be between 1 and the number of members")
    decisions = dict(state.decisions)
    decisions[pid] = kind
    return replace(state, members=members, quorum=quorum, open_disputes=disputes, decisions=decisions)


def apply(state: LogState, record: Mapping[str, Any]) -> LogState:
    """Check one record against the state before it and return the state after it."""
    try:
        seq, prev, day = record["seq"], record["prev"], record["day"]
        proposal, signatures = record["proposal"], record["signatures"]
        pid, kind, body = proposal["id"], proposal["type"], proposal["body"]
        if set(record) != {"seq", "prev", "day", "proposal", "signatures"} or set(proposal) != {"id", "type", "body", "day"}:
            raise LogError(f"record {seq}: unexpected fields")
        if not isinstance(signatures, list) or not isinstance(body, dict) or not isinstance(day, int):
            raise LogError(f"record {seq}: malformed")
        # Found by fuzzing: a list as id (unhashable) or a non-object signature escaped as TypeError/AttributeError.
        if not isinstance(pid, str) or not isinstance(kind, str) or not all(isinstance(s, dict) for s in signatures):
            raise LogError(f"record {seq}: malformed")
        if not is_id(pid):
            raise LogError(f"record {seq}: malformed id")
        check_body(kind, body)
    except SchemaError as exc:
        raise LogError(f"record {state.seq + 1}: {exc}") from None
    except (KeyError, TypeError) as exc:
        raise LogError(f"record {state.seq + 1}: malformed ({type(exc).__name__})") from None
    where = f"record {state.seq + 1}"
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
        if seq != 0:
            raise LogError(f"{where}: a second genesis")
        founders = body.get("members")
        if not isinstance(founders, list):  # found by fuzzing: null members escaped as TypeError
            raise LogError(f"{where}: genesis needs members and a quorum between 1 and their number")
        members = {m.sign: m for m in map(_member, founders)}
        quorum = body.get("quorum")
        if not members or not isinstance(quorum, int) or not 1 <= quorum <= len(members):
            raise LogError(f"{where}: genesis needs members and a quorum between 1 and their number")
        founding = LogState(members=members, quorum=len(members))
        if len(signatures) != len(members) or founding.valid_signers(proposal, signatures, day, lapsed_too=True) != set(members):
            raise LogError(f"{where}: genesis must be signed by every founding member")
        new = LogState(members=members, quorum=quorum, decisions={pid: kind})
    else:
        if seq == 0:
            raise LogError(f"{where}: the log must start with a genesis")
        for signature in signatures:
            if not _well_formed(signature):
                raise LogError(f"{where}: a malformed signature")
            if signature["signer"] not in state.members:
                raise LogError(f"{where}: signature from a non-member")
            if not signature_valid(proposal, signature, state):
                raise LogError(f"{where}: a signature does not match this decision and this log")
        if len({s["signer"] for s in signatures}) != len(signatures):
            raise LogError(f"{where}: the same signer twice")
        # A lapsed member may still sign a renewal, so a group whose terms ran out can recover.
        signers = state.valid_signers(proposal, signatures, day, lapsed_too=kind == "renew_member")
        if kind in QUORUM_TYPES and len(signers) < state.quorum:
            raise LogError(f"{where}: {len(signers)} of {state.quorum} required signatures")
        try:
            new = _apply_body(state, kind, body, pid, day)
        except LogError as exc:
            raise LogError(f"{where}: {exc}") from None
        except (TypeError, ValueError, AttributeError, KeyError) as exc:  # found by fuzzing: e.g. a list as a key
            raise LogError(f"{where}: malformed body ({type(exc).__name__})") from None
    head = digest(record)
    return replace(new, seq=seq, head=head, day=day, seen=state.seen | {pid},
                   genesis=state.genesis or head, hashes=state.hashes | {head})


def verify(records: Iterable[Mapping[str, Any]], genesis: str | None = None) -> LogState:
    """Replay the whole log; LogError on the first record that does not hold.

    genesis pins the first record's hash, so a whole substituted log is caught too.
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
    return state


def new_record(state: LogState, proposal: Mapping[str, Any], signatures: list[dict[str, str]], day: int) -> dict[str, Any]:
    """The record that appends proposal to the log after state (check it with apply)."""
    ordered = sorted(signatures, key=lambda s: s["signer"])
    return {"seq": state.seq + 1, "prev": state.head, "day": max(day, state.day),
            "proposal": dict(proposal), "signatures": ordered}
