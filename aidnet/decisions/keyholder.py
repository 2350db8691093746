"""The offline keyholder: keys made, records read and decisions signed on your own computer.

Needs only crypto/ and files: a key file (wrapped under your passphrase) and a
bundle exported by the server. The server never sees the private key; it
receives only signatures, which anyone can check against the log.

Bundle (JSON, version 2): {"v": 2, "log": [records], "pending": [{"proposal",
"signatures"}], "sealed": [{"table", "kind", "id", "parent", "envelope"}],
"notes": {proposal id: {"parent", "envelope"}}}; ids hex, envelopes base64.
Read strictly (crypto.strictjson). The tool remembers, beside the key file,
the last head of each group's log it verified, and refuses a bundle whose
log does not extend it: a server cannot hand it a log with records cut off.
It also remembers the last place it sealed in each group's log, and seals
each place at most once, for one decision: with two seals for one place the
server could choose which decision lands there and drop the other unnoticed.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import crypto
from crypto import KeyPair, strictjson
from crypto.cards import Card, make_card
from crypto.log import LogState, Member, pending_problem, seal_record, sign_proposal, verify
from crypto.notes import open_note as open_note_envelope

from .. import dates
from ..errors import Refused

BUNDLE_VERSION = 2
KEYFILE_VERSION = 1


class KeyholderError(Refused):
    """A file is missing or malformed, or a passphrase is wrong: one line for the person."""


def write_keyfile(path: Path, handle: str, passphrase: str, params: crypto.Argon2Params | None = None) -> Card:
    """Make fresh keys, store them wrapped under passphrase at path (0600); return their self-signed card."""
    keys = crypto.generate_keypair()
    try:
        card = make_card(handle, keys)
    except crypto.CryptoError as exc:
        raise KeyholderError(str(exc)) from None
    data = {"v": KEYFILE_VERSION, "handle": handle,
            "wrapped": base64.b64encode(crypto.wrap_with_passphrase(keys, passphrase, params)).decode("ascii")}
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyholderError(f"{path} already exists; not overwriting a key file") from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out)
    return card


def _read_json(path: Path, what: str) -> Any:
    try:
        return strictjson.loads(Path(path).read_bytes())
    except OSError:
        raise KeyholderError(f"cannot read {what} {path}") from None
    except strictjson.StrictJSONError as exc:
        raise KeyholderError(f"{path} is not a {what}: {exc}") from None


def read_keyfile(path: Path, passphrase: str) -> tuple[str, KeyPair]:
    data = _read_json(path, "key file")
    try:
        wrapped = base64.b64decode(data["wrapped"])
        handle = str(data["handle"])
    except (KeyError, TypeError, ValueError):
        raise KeyholderError(f"{path} is not an aidnet key file") from None
    try:
        return handle, crypto.unwrap_with_passphrase(wrapped, passphrase)
    except crypto.CryptoError:
        raise KeyholderError("wrong passphrase for this key file") from None


def heads_file(keys_path: Path) -> Path:
    """Where the tool remembers, per group, the last head of the log it verified: beside the key file."""
    return keys_path.with_name(keys_path.name + ".heads")


def _remembered(keys_path: Path | None) -> dict[str, dict[str, Any]]:
    """Per group (genesis hash): {"head": the last head verified, "sealed": the last place sealed, or -1}."""
    if keys_path is None or not heads_file(keys_path).exists():
        return {}
    found = _read_json(heads_file(keys_path), "heads file")
    if not isinstance(found, dict):
        raise KeyholderError(f"{heads_file(keys_path)} is not a heads file")
    out = {}
    for genesis, seen in found.items():
        if not (isinstance(seen, dict) and isinstance(seen.get("head"), str) and isinstance(seen.get("sealed"), int)):
            raise KeyholderError(f"{heads_file(keys_path)} is not a heads file")
        out[str(genesis)] = seen
    return out


def last_sealed(keys_path: Path, genesis: str) -> int:
    """The last place of this group's log these keys sealed (-1: none)."""
    return int(_remembered(keys_path).get(genesis, {}).get("sealed", -1))


def remember_head(keys_path: Path, state: LogState, sealed: int | None = None) -> None:
    """Remember the head just verified (and, given sealed, the place just sealed) for this group."""
    heads = _remembered(keys_path)
    before = heads.get(state.genesis, {}).get("sealed", -1)
    heads[state.genesis] = {"head": state.head, "sealed": max(before, -1 if sealed is None else sealed)}
    path = heads_file(keys_path)
    part = path.with_name(path.name + ".part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(heads, out, sort_keys=True)
    os.replace(part, path)


def load_bundle(path: Path, genesis: str | None = None, keys_path: Path | None = None) -> tuple[dict[str, Any], LogState]:
    """Read a bundle and verify its log offline (and, given keys_path, that it extends the head seen last)."""
    bundle = _read_json(path, "bundle")
    if (not isinstance(bundle, dict) or bundle.get("v") != BUNDLE_VERSION
            or not all(isinstance(bundle.get(k), list) for k in ("log", "pending", "sealed"))
            or not all(isinstance(p, dict) and isinstance(p.get("proposal"), dict)
                       and isinstance(p["proposal"].get("body"), dict) and isinstance(p.get("signatures"), list)
                       for p in bundle["pending"])
            or not all(isinstance(i, dict) for i in bundle["sealed"]) or not isinstance(bundle.get("notes", {}), dict)):
        raise KeyholderError(f"{path} is not an aidnet bundle")
    try:
        state = verify(bundle.get("log", []), genesis)
    except crypto.CryptoError as exc:
        raise KeyholderError(f"the bundle's decision log does not verify: {exc}") from None
    seen = _remembered(keys_path).get(state.genesis, {}).get("head")
    if seen is not None and seen not in state.hashes:
        raise KeyholderError("the bundle's log does not extend the one you saw last: records were cut off or "
                             "replaced; do not sign, and ask the other keyholders")
    if keys_path is not None:
        remember_head(keys_path, state)
    return bundle, state


def _b64(text: Any) -> bytes:
    return base64.b64decode(str(text), validate=True)


def open_records(bundle: dict[str, Any], keys: KeyPair) -> list[dict[str, Any]]:
    """Every sealed record in the bundle this key opens, decrypted (locally)."""
    opened = []
    for item in bundle.get("sealed", []):
        try:
            payload = crypto.open_envelope(_b64(item["envelope"]), bytes.fromhex(item["id"]), item["kind"],
                                           keys.box_secret, bytes.fromhex(item.get("parent", "")))
        except (crypto.CryptoError, KeyError, ValueError, TypeError):
            continue
        opened.append({"table": item.get("table"), "id": item["id"], "text": payload.decode("utf-8", "replace")})
    return opened


def open_note(bundle: dict[str, Any], proposal: dict[str, Any], keys: KeyPair) -> str | None:
    """A decision's sealed note, if the bundle carries it, it matches the decision's hash, and keys open it."""
    pid = proposal.get("id")
    entry = bundle.get("notes", {}).get(pid) if isinstance(pid, str) else None
    if not isinstance(entry, dict) or not isinstance(pid, str):
        return None
    try:
        envelope, parent = _b64(entry["envelope"]), bytes.fromhex(str(entry.get("parent", "")))
    except (KeyError, ValueError):
        return None
    return open_note_envelope(pid, proposal.get("body", {}).get("note"), envelope, keys.box_secret, parent)


def fingerprint(member: Member | Card) -> str:
    """The card's 128-bit fingerprint, as every page and tool shows it."""
    return crypto.cards.fingerprint(member.handle, member.box, member.sign)


def _who(state: LogState, sign: Any) -> str:
    member = state.members.get(str(sign))
    return f"{member.handle} ({fingerprint(member)})" if member else f"an unknown key {str(sign)[:16]}"


def _day(day: Any) -> str:
    return dates.day_to_date(day).isoformat() if isinstance(day, int) else "no end"


def describe(proposal: dict[str, Any], state: LogState) -> str:
    """A proposal in full words: what changes, for whom, by how much, and who proposed it (notes left out)."""
    kind, body = proposal.get("type"), proposal.get("body", {})
    member = body.get("member") or {}
    handle, box, sign = (str(member.get(k)) for k in ("handle", "box", "sign"))
    card = f"{handle} with card {crypto.cards.fingerprint(handle, box, sign)}"
    words = {
        "add_member": lambda: f"add {card}, term until {_day(member.get('until'))}",
        "remove_member": lambda: f"remove {_who(state, body.get('sign'))}",
        "rotate_key": lambda: f"{_who(state, body.get('old_sign'))} changes keys to {card}",
        "set_quorum": lambda: f"the quorum becomes {body.get('quorum')} of {len(state.members)}",
        "renew_member": lambda: f"renew {_who(state, body.get('sign'))} until {_day(body.get('until'))}",
        "allocation": lambda: (f"give request {body.get('request')} {body.get('source', {}).get('kind')}"
                               + (f" {body['source']['amount']}" if body.get("source", {}).get("amount") else "")
                               + (f" (offer {body['source']['ref']})" if body.get("source", {}).get("ref") else "")),
        "distribution": lambda: f"request {body.get('request')} received allocation {body.get('allocation')}",
        "dispute": lambda: f"dispute decision {body.get('decision')}",
        "resolution": lambda: f"resolve dispute {body.get('dispute')}: {body.get('outcome')}",
        "impact_update": lambda: "publish on the transparency page: " + "; ".join(
            f"[{code}] {text}" for code, text in sorted((body.get("texts") or {}).items())),
    }
    by = proposal.get("by")
    proposer = "a requester" if by == "requester" else _who(state, by) if by else "nobody says who"
    return f"{proposal.get('id')} {kind}: {words.get(str(kind), lambda: '?')()}; proposed by {proposer}"


def sign_pending(bundle: dict[str, Any], state: LogState, keys: KeyPair, only: list[str],
                 today: int | None = None, sealed_up_to: int = -1) -> list[dict[str, Any]]:
    """Signatures over the pending proposals named in only (read them first with `keyholder read`).

    Never "everything": the server made the bundle, and could slip in a decision you did not mean to sign;
    a proposal its proposer did not sign, or a card its owner did not sign, is refused. The first one
    named comes with a seal for the place right after the bundle's head, unless these keys sealed that
    place (or a later one) before (sealed_up_to): the server uses it if the decision becomes final there.
    The others, and a decision that lands elsewhere, wait for a keyholder signed in to the web to seal.
    """
    if keys.sign_public.hex() not in state.members:
        raise KeyholderError("this key is not a member in the bundle's log")
    day = dates.today() if today is None else today
    pending = {p["proposal"].get("id"): p for p in bundle.get("pending", [])}
    missing = [pid for pid in only if pid not in pending]
    if missing:
        raise KeyholderError(f"not a pending decision in this bundle: {missing[0]}")
    out: list[dict[str, Any]] = []
    for pid in only:
        proposal, signatures = pending[pid]["proposal"], pending[pid]["signatures"]
        problem = pending_problem(state, proposal, signatures, day)
        if problem is not None:
            raise KeyholderError(f"not signing {pid}: {problem}")
        signed: dict[str, Any] = {"proposal": pid, "signature": sign_proposal(proposal, keys.sign_seed, state,
                                                                              today=day)}
        if not out and state.seq + 1 > sealed_up_to:  # one seal for one place, ever
            place = {"seq": state.seq + 1, "prev": state.head, "day": max(day, state.day), "proposal": proposal}
            signed["seal"] = {**seal_record(place, state.genesis, keys.sign_seed), "seq": place["seq"],
                              "prev": state.head, "day": place["day"]}
        out.append(signed)
    return out
