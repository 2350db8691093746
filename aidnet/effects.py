"""What a decision does when it becomes final: statuses and counters move, nothing else.

Runs inside the finalizing write transaction, so the record and its effects
commit together or not at all. Category and area are read from the sealed
request only when the finalizing keyholder's keys are at hand; a signature
brought from offline finalizes without keys, and the counter says "unknown".
"""

from __future__ import annotations

from typing import Any

import sqlcipher3

from crypto import KeyPair

from . import dates, exportstore, intake, logstore
from .config import settings_beside
from .storage import Store

UNKNOWN = "unknown"


def _where(store: Store, request_hex: str, keys: KeyPair | None) -> tuple[str, str]:
    if keys is None:
        return UNKNOWN, UNKNOWN
    opened = intake.open_request(store, keys, request_hex)
    if opened is None or opened.details is None:
        return UNKNOWN, UNKNOWN
    return opened.details.category, opened.details.area


def _set_request_status(store: Store, tx: sqlcipher3.Connection, request_hex: str, status: str) -> None:
    try:
        store.set_status(tx, bytes.fromhex(request_hex), status)
    except ValueError:
        return


def money_in_cents(units: int, clip: int) -> int:
    """Forms take whole units; counters keep cents, each movement clipped so one gift or payment
    moves a published total by at most clip (the noise is scaled to it)."""
    return min(units * 100, clip)


def _first(store: Store, tx: sqlcipher3.Connection, request_hex: str, event: str) -> bool:
    """True the first time this request reaches event: a person moves each count by at most one."""
    try:
        return store.count_once(tx, bytes.fromhex(request_hex), event)
    except ValueError:
        return False


def on_final(store: Store, tx: sqlcipher3.Connection, proposal: dict[str, Any], keys: KeyPair | None) -> None:
    kind, body = proposal["type"], proposal["body"]
    week = dates.this_week()
    if kind == "allocation":
        request_hex = str(body.get("request", ""))
        _set_request_status(store, tx, request_hex, "allocated")
        source = body.get("source") or {}
        if source.get("kind") == "offer" and source.get("ref"):
            try:
                logstore.set_offer_status(tx, bytes.fromhex(str(source["ref"])), "allocated")
            except ValueError:
                pass
        category, area = _where(store, request_hex, keys)
        if _first(store, tx, request_hex, "allocated"):
            store.bump_counter(tx, week, category, area, "allocated")
        if source.get("kind") == "money" and isinstance(source.get("amount"), int):
            found = settings_beside(store.path)
            exportstore.bump_money(tx, week, category, "out",
                                   money_in_cents(source["amount"], found.policy.money_clip if found else 50000))
    elif kind == "distribution":
        request_hex = str(body.get("request", ""))
        _set_request_status(store, tx, request_hex, "fulfilled")
        category, area = _where(store, request_hex, keys)
        if _first(store, tx, request_hex, "distributed"):
            store.bump_counter(tx, week, category, area, "distributed")
    elif kind == "rotate_key":
        # The account's new keys, kept aside at proposal time, take over now that the rotation is final.
        member = body.get("member") or {}
        try:
            old_sign = bytes.fromhex(str(body.get("old_sign", "")))
            new_public = bytes.fromhex(str(member.get("box", ""))) + bytes.fromhex(str(member.get("sign", "")))
        except ValueError:
            return
        for account_id, next_keys in tx.execute(
            "SELECT id, next_keys FROM coordinators WHERE sign_public = ? AND next_keys IS NOT NULL", (old_sign,)
        ).fetchall():
            if next_keys[:64] == new_public:
                tx.execute("UPDATE coordinators SET box_public = ?, sign_public = ?, wrapped_keys = ?, next_keys = NULL"
                           " WHERE id = ?", (new_public[:32], new_public[32:], next_keys[64:], account_id))
    elif kind == "dispute":
        store.bump_counter(tx, week, "-", "-", "dispute_raised")
    elif kind == "resolution":
        store.bump_counter(tx, week, "-", "-", "dispute_resolved")


def check_possible(store: Store, tx: sqlcipher3.Connection, proposal: dict[str, Any]) -> None:
    """LogError if a decision can no longer take effect (checked inside the finalizing write)."""
    from crypto.log import LogError

    if proposal["type"] != "allocation":
        return
    source = proposal["body"].get("source") or {}
    if source.get("kind") == "offer":
        row = tx.execute("SELECT status FROM offers WHERE id = ?", (bytes.fromhex(str(source.get("ref"))),)).fetchone()
        if row is None or row[0] != "open":
            raise LogError("that offer is no longer open")
