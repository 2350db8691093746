"""Membership beyond the genesis: member cards and key rotation (re-sealing is sealing.reseal)."""

from __future__ import annotations

from typing import Any

import crypto

from ..config import Settings
from ..sealing.readers import current
from ..store import Store
from ..store import accounts as account_rows
from ..store import decision_log as log_rows
from .proposals import DecisionRefused, new_proposal, propose


def parse_member_card(card: str, until: int | None = None) -> dict[str, Any]:
    """The member a card describes; ValueError if it is not a card."""
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
    row = account_rows.by_handle(store, handle)
    if row is None:
        raise DecisionRefused("no such account")
    try:
        old = crypto.unwrap_with_passphrase(row.wrapped_keys, passphrase)
    except crypto.CryptoError:
        raise DecisionRefused("wrong passphrase") from None
    state = current(store)
    member = state.members.get(old.sign_public.hex())
    if member is None:
        raise DecisionRefused("only a member can rotate their keys")
    if any(p.proposal["type"] == "rotate_key" and p.proposal["body"].get("old_sign") == member.sign
           for p in log_rows.proposals(store)):
        raise DecisionRefused("a rotation of these keys is already waiting for signatures")
    new = crypto.generate_keypair()
    wrapped = crypto.wrap_with_passphrase(new, passphrase, settings.argon2)
    with store.write() as tx:
        account_rows.set_next_keys(tx, row.id, new.box_public + new.sign_public + wrapped)
    body = {"old_sign": old.sign_public.hex(),
            "member": {"handle": member.handle, "box": new.box_public.hex(), "sign": new.sign_public.hex(),
                       "until": member.until}}
    return propose(store, settings, old, new_proposal("rotate_key", body))
