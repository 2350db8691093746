"""Membership beyond the genesis: member cards, key rotation, and re-sealing open records."""

from __future__ import annotations

from typing import Any

import crypto
from crypto import KeyPair
from crypto.log import LogError

from . import groupcommit, intake, logstore
from .config import Settings
from .governance import NoGenesis, current, new_proposal, propose
from .storage import Store


def parse_member_card(card: str, until: int | None = None) -> dict[str, Any]:
    parts = card.strip().split(":")
    if len(parts) != 5 or parts[:2] != ["aidnet-member", "1"]:
        raise ValueError("not a member card")
    handle, box, sign = parts[2:]
    try:
        if len(bytes.fromhex(box)) != 32 or len(bytes.fromhex(sign)) != 32:
            raise ValueError
    except ValueError:
        raise ValueError("member card keys are malformed") from None
    return {"handle": handle, "box": box, "sign": sign, "until": until}


def propose_rotation(store: Store, settings: Settings, handle: str, passphrase: str) -> bool:
    """Make new keys for a coordinator account, kept aside until a quorum signs the rotation.

    The passphrase must open the current keys (it also wraps the new ones).
    """
    row = store.coordinator_by_handle(handle)
    if row is None:
        raise LogError("no such account")
    try:
        old = crypto.unwrap_with_passphrase(row.wrapped_keys, passphrase)
    except crypto.CryptoError:
        raise LogError("wrong passphrase") from None
    state = current(store)
    member = state.members.get(old.sign_public.hex())
    if member is None:
        raise LogError("only a member can rotate their keys")
    if any(p.proposal["type"] == "rotate_key" and p.proposal["body"].get("old_sign") == member.sign
           for p in logstore.proposals(store)):
        raise LogError("a rotation of these keys is already waiting for signatures")
    new = crypto.generate_keypair()
    wrapped = crypto.wrap_with_passphrase(new, passphrase, settings.argon2)
    with store.write() as tx:
        tx.execute("UPDATE coordinators SET next_keys = ? WHERE id = ?",
                   (new.box_public + new.sign_public + wrapped, row.id))
    body = {"old_sign": old.sign_public.hex(),
            "member": {"handle": member.handle, "box": new.box_public.hex(), "sign": new.sign_public.hex(),
                       "until": member.until}}
    return propose(store, old, new_proposal(store, "rotate_key", body))


def reseal_all(store: Store, keys: KeyPair, batch: int = 200) -> tuple[int, int]:
    """Re-seal every record this keyholder can open to today's members; (resealed, skipped).

    New content keys: a removed member who kept an old sealed key cannot open the
    new envelope. Each batch is written only if the readers did not change while
    it was being sealed (checked inside the write); otherwise it is sealed again.
    """
    resealed = skipped = 0
    for table, (kind, _query) in logstore.SEALED_TABLES.items():
        rows = logstore.sealed_records(store, table)
        for start in range(0, len(rows), batch):
            opened = []
            for record_id, envelope, extra in rows[start:start + batch]:
                try:
                    opened.append((record_id, crypto.open_envelope(envelope, record_id, kind, keys.box_secret), extra))
                except crypto.CryptoError:
                    skipped += 1
            resealed += _reseal_batch(store, table, kind, opened)
    return resealed, skipped


def _reseal_batch(store: Store, table: str, kind: str, opened: list[tuple[bytes, bytes, bytes | None]]) -> int:
    """Seal the opened records to today's readers and store them (sealed again if the readers move)."""
    def seal(targets: list[bytes]) -> list[tuple[bytes, bytes]]:
        return [(rid, crypto.seal(payload, rid, kind, [*targets, *([extra] if extra else [])]))
                for rid, payload, extra in opened]

    def write(tx: groupcommit.Tx, updates: list[tuple[bytes, bytes]]) -> int:
        for record_id, envelope in updates:
            logstore.replace_envelope(tx, table, record_id, envelope)
        return len(updates)

    try:
        return intake.sealed_write(store, seal, write)
    except intake.NotReady:
        raise NoGenesis from None
