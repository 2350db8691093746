"""What a decision does when it becomes final: statuses and counters move, nothing else.

Runs inside the finalizing write transaction, so the record and its effects
commit together or not at all. Category and area are read from the sealed
request when the finalizing keyholder's keys are at hand; a signature
brought from offline finalizes without keys, and then the category and area
kept when the proposer (who could read the request) proposed it are used
(counters.keep_where); only when neither is known does the counter say "unknown".

Money paid out is counted once per request (its first payout), and its amount
is clipped per request at money_clip over all its payouts, so one request moves
the published money tables by at most one payout of money_clip.
"""

from __future__ import annotations

from typing import Any

from crypto import KeyPair

from .. import dates
from ..config import Settings
from ..errors import Refused
from ..records.requests import open_request, parse_id
from ..store import Store, Tx, counters
from ..store import accounts as account_rows
from ..store import decision_log as log_rows
from ..store import offers as offer_rows
from ..store import requests as request_rows

UNKNOWN = "unknown"


def where(store: Store, request_hex: str, keys: KeyPair | None) -> tuple[str, str]:
    """(category, area) of a request, read with these keys; "unknown" without them."""
    if keys is None:
        return UNKNOWN, UNKNOWN
    opened = open_request(store, keys, request_hex)
    if opened is None or opened.details is None:
        return UNKNOWN, UNKNOWN
    return opened.details.category, opened.details.area


def _first(tx: Tx, request: bytes | None, event: str) -> bool:
    """True the first time this request reaches event: a person moves each count by at most one."""
    return request is not None and request_rows.count_once(tx, request, event)


def on_final(store: Store, tx: Tx, settings: Settings, proposal: dict[str, Any], keys: KeyPair | None) -> None:
    kind, body = proposal["type"], proposal["body"]
    week = dates.this_week()
    if kind in ("allocation", "distribution"):
        request_hex = str(body.get("request", ""))
        request = parse_id(request_hex)
        if request is not None:
            request_rows.set_status(tx, request, "allocated" if kind == "allocation" else "fulfilled")
        kept = counters.take_where(tx, str(proposal.get("id", "")))
        category, area = where(store, request_hex, keys)
        if (category, area) == (UNKNOWN, UNKNOWN) and kept is not None:
            category, area = kept
        event = "allocated" if kind == "allocation" else "distributed"
        if _first(tx, request, event):
            counters.bump(tx, week, category, area, event)
        if kind == "distribution" and _first(tx, request, "fulfilled"):
            counters.bump(tx, week, category, area, "fulfilled")  # a final hand-over fulfils the request
        source = body.get("source") or {}
        offer = parse_id(str(source.get("ref") or "")) if source.get("kind") == "offer" else None
        if offer is not None:
            offer_rows.set_offer_status(tx, offer, "allocated")
        if source.get("kind") == "money" and isinstance(source.get("amount"), int):
            clip = settings.policy.money_clip
            before = _paid_cents(store, request_hex) - source["amount"] * 100  # the log holds this one already
            amount = min(before + source["amount"] * 100, clip) - min(before, clip)
            first = request is None or request_rows.count_once(tx, request, "money_out")
            counters.bump_money(tx, week, category, "out", max(0, amount), 1 if first else 0)
    elif kind == "rotate_key":
        # The account's new keys, kept aside at proposal time, take over now that the rotation is final.
        member = body.get("member") or {}
        try:
            old_sign = bytes.fromhex(str(body.get("old_sign", "")))
            new_public = bytes.fromhex(str(member.get("box", ""))) + bytes.fromhex(str(member.get("sign", "")))
        except ValueError:
            return
        account_rows.adopt_next_keys(tx, old_sign, new_public, member.get("card_sig"))
    elif kind == "dispute":
        counters.bump(tx, week, "-", "-", "dispute_raised")
    elif kind == "resolution":
        counters.bump(tx, week, "-", "-", "dispute_resolved")


def _money_paid(store: Store) -> dict[str, int]:
    """Whole units paid out by final money allocations in the log, per request."""
    paid: dict[str, int] = {}
    for r in log_rows.records(store):
        p = r["proposal"]
        source = p["body"].get("source") or {} if p["type"] == "allocation" else {}
        if source.get("kind") == "money" and isinstance(source.get("amount"), int):
            key = str(p["body"].get("request", ""))
            paid[key] = paid.get(key, 0) + source["amount"]
    return paid


def _paid_cents(store: Store, request_hex: str) -> int:
    return _money_paid(store).get(request_hex, 0) * 100


def balance_cents(store: Store) -> int:
    """Money recorded as received (each gift counted up to money_clip) less every final money allocation."""
    return counters.money_received(store) - sum(_money_paid(store).values()) * 100


class NotEnoughMoney(Refused):
    """A money allocation larger than the money recorded as received and not yet allocated."""

    reason = "there is not enough money recorded as received for this allocation"


class OfferGone(Refused):
    """The offer an allocation gives from is no longer open (allocated to someone else, withdrawn, expired)."""

    reason = "that offer is no longer open"


class HandedOverAlready(Refused):
    """A hand-over is recorded once for each allocation."""

    reason = "that allocation was handed over already"


def handed_over(store: Store, allocation: str) -> bool:
    """Whether the log already records a hand-over of this allocation."""
    return any(r["proposal"]["type"] == "distribution" and r["proposal"]["body"].get("allocation") == allocation
               for r in log_rows.records(store))


def check_possible(store: Store, proposal: dict[str, Any]) -> None:
    """A Refused if a decision can no longer take effect (checked inside the finalizing write)."""
    if proposal["type"] == "distribution" and handed_over(store, str(proposal["body"].get("allocation"))):
        raise HandedOverAlready
    if proposal["type"] != "allocation":
        return
    source = proposal["body"].get("source") or {}
    if source.get("kind") == "money" and isinstance(source.get("amount"), int):
        available = balance_cents(store)
        if source["amount"] * 100 > available:
            raise NotEnoughMoney(f"there is not enough money recorded as received for this allocation "
                                 f"({max(0, available) // 100} available)")
    if source.get("kind") == "offer":
        offer = parse_id(str(source.get("ref") or ""))
        if offer is None or offer_rows.offer_status(store, offer) != "open":
            raise OfferGone
