"""Membership beyond the genesis: member cards, members from accounts, key rotation (re-sealing is sealing.reseal).

Who may read is decided by a card its owner signed (crypto.cards): from a pasted
card, or from an account whose card was made with the account's own keys. A
card whose signature fails is refused before it is proposed.
"""

from __future__ import annotations

from typing import Any

import crypto
from crypto import CryptoError
from crypto.cards import Card, make_card, parse_card, rotation_signature, verified
from crypto.log import member_entry

from ..config import Settings
from ..records import coordinators
from ..sealing.readers import current
from ..store import Store
from ..store import accounts as account_rows
from ..store import decision_log as log_rows
from ..store.accounts import CoordinatorRow
from .proposals import DecisionRefused, new_proposal, propose


def parse_member_card(text: str, until: int | None = None) -> dict[str, Any]:
    """The member a pasted card describes, with the term the group gives it; DecisionRefused if it is not a valid card."""
    try:
        return member_entry(parse_card(text), until)
    except CryptoError as exc:
        raise DecisionRefused(str(exc)) from None


def member_from_account(row: CoordinatorRow, until: int | None = None) -> dict[str, Any]:
    """The member an account is, by the card its own keys signed; DecisionRefused if its card does not hold.

    The account row is the database's: a box key swapped in it no longer matches the card's signature.
    """
    card = Card(row.handle, row.box_public.hex(), row.sign_public.hex(), row.card_sig or "")
    if not row.card_sig:
        raise DecisionRefused("this account has no member card yet: its owner makes one by logging in once")
    try:
        return member_entry(verified(card), until)
    except CryptoError:
        raise DecisionRefused("this account's card is not signed by its keys: its keys were changed") from None


def propose_rotation(store: Store, settings: Settings, handle: str, passphrase: str, new_passphrase: str) -> bool:
    """Make new keys for a coordinator account, kept aside until a quorum signs the rotation.

    The passphrase must open the current keys; the new keys are wrapped under new_passphrase, never
    the old one (a copy of the old wrapped keys and a leaked old passphrase must not open the new
    keys). Once the rotation is final the account logs in with new_passphrase.
    """
    coordinators.check_new_passphrase(passphrase, new_passphrase)  # WeakPassphrase before any Argon2
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
    card = make_card(member.handle, new)
    wrapped = crypto.wrap_with_passphrase(new, new_passphrase, settings.argon2)
    with store.write() as tx:
        account_rows.set_next_keys(tx, row.id, new.box_public + new.sign_public + wrapped)
    # The new card is signed by the new key, and the old key signs that it is its successor.
    body = {"old_sign": old.sign_public.hex(), "member": member_entry(card, member.until),
            "old_sig": rotation_signature(old, card)}
    return propose(store, settings, old, new_proposal("rotate_key", body, old))
