"""The offline keyholder: keys made, records read and decisions signed on your own computer.

Needs only crypto/ and files: a key file (wrapped under your passphrase) and a
bundle exported by the server. The server never sees the private key; it
receives only signatures, which anyone can check against the log.

Bundle (JSON): {"v": 1, "log": [records], "pending": [proposals],
"sealed": [{"table", "kind", "id", "envelope"}]}; ids hex, envelopes base64.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import crypto
from crypto import KeyPair
from crypto.log import LogState, sign_proposal, verify
from crypto.notes import open_note as open_note_envelope

from ..errors import Refused

BUNDLE_VERSION = 1
KEYFILE_VERSION = 1


class KeyholderError(Refused):
    """A file is missing or malformed, or a passphrase is wrong: one line for the person."""


def member_card(handle: str, keys: KeyPair) -> str:
    return f"aidnet-member:1:{handle}:{keys.box_public.hex()}:{keys.sign_public.hex()}"


def write_keyfile(path: Path, handle: str, passphrase: str, params: crypto.Argon2Params | None = None) -> str:
    """Make fresh keys, store them wrapped under passphrase at path (0600); return the member card."""
    keys = crypto.generate_keypair()
    data = {"v": KEYFILE_VERSION, "handle": handle,
            "wrapped": base64.b64encode(crypto.wrap_with_passphrase(keys, passphrase, params)).decode("ascii")}
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyholderError(f"{path} already exists; not overwriting a key file") from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out)
    return member_card(handle, keys)


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise KeyholderError(f"cannot read {what} {path}") from None


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


def load_bundle(path: Path, genesis: str | None = None) -> tuple[dict[str, Any], LogState]:
    """Read a bundle and verify its log offline; KeyholderError if either fails."""
    bundle = _read_json(path, "bundle")
    if (not isinstance(bundle, dict) or bundle.get("v") != BUNDLE_VERSION
            or not all(isinstance(bundle.get(k), list) for k in ("log", "pending", "sealed"))
            or not all(isinstance(p, dict) and isinstance(p.get("body"), dict) for p in bundle["pending"])
            or not all(isinstance(i, dict) for i in bundle["sealed"])):
        raise KeyholderError(f"{path} is not an aidnet bundle")
    try:
        state = verify(bundle.get("log", []), genesis)
    except crypto.CryptoError as exc:
        raise KeyholderError(f"the bundle's decision log does not verify: {exc}") from None
    return bundle, state


def open_records(bundle: dict[str, Any], keys: KeyPair) -> list[dict[str, Any]]:
    """Every sealed record in the bundle this key opens, decrypted (locally)."""
    opened = []
    for item in bundle.get("sealed", []):
        try:
            payload = crypto.open_envelope(base64.b64decode(item["envelope"]), bytes.fromhex(item["id"]),
                                           item["kind"], keys.box_secret)
        except (crypto.CryptoError, KeyError, ValueError, TypeError):
            continue
        opened.append({"table": item.get("table"), "id": item["id"], "text": payload.decode("utf-8", "replace")})
    return opened


def open_note(bundle: dict[str, Any], proposal: dict[str, Any], keys: KeyPair) -> str | None:
    """A decision's sealed note, if the bundle carries it, it matches the decision's hash, and keys open it."""
    notes = bundle.get("notes")
    pid = proposal.get("id")
    if not isinstance(notes, dict) or not isinstance(pid, str) or not isinstance(notes.get(pid), str):
        return None
    try:
        envelope = base64.b64decode(notes[pid])
    except ValueError:
        return None
    return open_note_envelope(pid, proposal.get("body", {}).get("note"), envelope, keys.box_secret)


def fingerprint(key_hex: str) -> str:
    """A short, readable form of a public key, to compare aloud or on paper."""
    return " ".join(key_hex[i:i + 4] for i in range(0, 16, 4))


def describe(proposal: dict[str, Any]) -> str:
    """A one-line summary of a proposal, with sealed notes left out."""
    body = {k: v for k, v in proposal.get("body", {}).items() if k != "note"}
    return f"{proposal.get('id')} {proposal.get('type')} {json.dumps(body, sort_keys=True)}"


def sign_pending(bundle: dict[str, Any], state: LogState, keys: KeyPair, only: list[str]) -> list[dict[str, Any]]:
    """Signatures over the pending proposals named in only (read them first with `keyholder read`).

    Never "everything": the server made the bundle, and could slip in a decision you did not mean to sign.
    """
    if keys.sign_public.hex() not in state.members:
        raise KeyholderError("this key is not a member in the bundle's log")
    pending = {p.get("id"): p for p in bundle.get("pending", []) if isinstance(p, dict)}
    missing = [pid for pid in only if pid not in pending]
    if missing:
        raise KeyholderError(f"not a pending decision in this bundle: {missing[0]}")
    return [{"proposal": pid, "signature": sign_proposal(pending[pid], keys.sign_seed, state)} for pid in only]
