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

Money received counts for the balance only through a receipt final in the
verified log (received_by_category), at its exact amount kept beside it and
never above the band its signers signed. A money allocation pays from its own
request's category (allocated_where) and is refused beyond what that category
holds (money_available), at proposal and again when it becomes final.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from crypto import KeyPair

from .. import dates
from ..config import Settings
from ..errors import DecisionRefused, Refused
from ..records.requests import open_request, parse_id
from ..sealing.readers import NoGenesis, current
from ..store import Store, Tx, counters
from ..store import accounts as account_rows
from ..store import decision_log as log_rows
from ..store import offers as offer_rows
from ..store import requests as request_rows
from ..store import verdicts as verdict_rows

UNKNOWN = "unknown"


def where(store: Store, request_hex: str, keys: KeyPair | None) -> tuple[str, str]:
    """(category, area) of a request, read with these keys; "unknown" without them."""
    if keys is None:
        return UNKNOWN, UNKNOWN
    opened = open_request(store, keys, request_hex)
    if opened is None or opened.details is None:
        return UNKNOWN, UNKNOWN
    return opened.details.category, opened.details.area


def allocated_where(store: Store, proposal: dict[str, Any], keys: KeyPair | None) -> tuple[str, str]:
    """(category, area) of the request an allocation or hand-over is for: read with these keys, else as kept
    when it was proposed by a member who could read it (counters.keep_where), else "unknown".

    The one answer to "which category does this decision count in": its money is checked against that
    category's balance (check_possible) and counted in it when final (on_final)."""
    found = where(store, str(proposal["body"].get("request", "")), keys)
    if found == (UNKNOWN, UNKNOWN):
        kept = counters.kept_where(store, str(proposal.get("id", "")))
        if kept is not None and kept[0] and kept[1]:
            return str(kept[0]), str(kept[1])
    return found


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
        category, area = allocated_where(store, proposal, keys)
        kept = counters.take_where(tx, str(proposal.get("id", "")))
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
            exact = kept[2] if kept is not None and kept[2] else source["amount"]  # else the band: an upper bound
            clip = settings.policy.money_clip
            before = counters.paid(store, request_hex) * 100
            counters.record_paid(tx, str(proposal.get("id", "")), request_hex, exact, category, week)
            amount = min(before + exact * 100, clip) - min(before, clip)
            first = request is None or request_rows.count_once(tx, request, "money_out")
            counters.bump_money(tx, week, category, "out", max(0, amount), 1 if first else 0)
    elif kind == "receipt":
        _on_receipt(tx, settings, proposal, week)
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


def _on_receipt(tx: Tx, settings: Settings, proposal: dict[str, Any], week: str) -> None:
    """Money received counts for the balance (its exact amount, kept at proposal, never above the signed band)
    and, with stock, in the public counters, unless it was counted there when recorded before receipts
    were signed (offer_rows.counted_before)."""
    body, pid = proposal["body"], str(proposal.get("id", ""))
    category = str(body.get("category"))
    kept = counters.take_where(tx, pid)
    before = offer_rows.counted_before(tx, pid)
    if body.get("kind") == "money":
        signed = int(body.get("amount", 0))
        # Without the kept amount, the least the band holds: the balance never counts more than was given.
        exact = min(int(kept[2]), signed) if kept is not None and kept[2] else below_band(signed) + 1
        counters.record_received(tx, pid, category, week, exact)
        if not before:
            counters.bump_money(tx, week, category, "in", settings.policy.movement_cents(exact))
    elif not before:
        counters.bump(tx, week, category, "-", "stock_in")


BANDS = (1, 2, 5)  # the log carries a money allocation's amount only as the 1-2-5 band it is in (at most)


def band(units: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, … that is at least units: what the log says of an amount."""
    step = 1
    while True:
        for b in BANDS:
            if b * step >= units:
                return b * step
        step *= 10


def below_band(units: int) -> int:
    """The largest band below units (0 below 1): a band b holds the amounts below_band(b)+1 … b."""
    before, step = 0, 1
    while True:
        for b in BANDS:
            if b * step >= units:
                return before
            before = b * step
        step *= 10


def exact_amount(store: Store, proposal: dict[str, Any]) -> int | None:
    """A money allocation's (or receipt's) exact amount as kept at proposal, else the band in the log (an upper bound)."""
    if proposal["type"] == "receipt":
        body = proposal["body"]
        if body.get("kind") != "money" or not isinstance(body.get("amount"), int):
            return None
        kept = counters.kept_where(store, str(proposal.get("id", "")))
        if kept is not None and kept[2]:
            return int(kept[2])
        return counters.received_for(store, str(proposal.get("id", ""))) or int(body["amount"])
    source = proposal["body"].get("source") or {}
    if source.get("kind") != "money" or not isinstance(source.get("amount"), int):
        return None
    pid = str(proposal.get("id", ""))
    kept = counters.kept_where(store, pid)
    if kept is not None and kept[2]:
        return int(kept[2])
    return counters.paid_for(store, pid) or int(source["amount"])


def received_by_category(store: Store) -> dict[str, int]:
    """Whole units received, by category, counting only money receipts final in the verified log.

    Each counts its exact amount kept beside it, never more than the band its signers signed; a receipt whose
    exact amount is missing counts the least its band holds. A row the server wrote for a receipt that is not in
    the verified log counts nothing."""
    try:
        signed_receipts = current(store).money_in
    except NoGenesis:
        return {}
    kept = counters.received_amounts(store)
    found: dict[str, int] = {}
    for pid, (category, signed) in signed_receipts.items():
        exact = kept.get(pid)
        amount = min(exact, signed) if exact is not None and exact >= 1 else below_band(signed) + 1
        found[category] = found.get(category, 0) + amount
    return found


def balance_cents(store: Store) -> int:
    """Money received by final signed receipts less every final money allocation, in minor units (one its
    requester declined no longer counts: decisions.declines)."""
    return (sum(received_by_category(store).values()) - counters.paid_not_declined(store)) * 100


def available_by_category(store: Store, names: Iterable[str] = ()) -> dict[str, int]:
    """{category: whole units a money allocation in it may still take}, for these names and every category money
    moved in.

    A category holds what final receipts in it brought less its final money allocations (one its requester
    declined no longer counts), and never more than the whole balance. The whole balance bounds it because
    payouts made final before payouts kept their category count in none (the pages show them as "unknown")
    until a keyholder's keys read their request (recover_payout_categories); one whose request is erased
    or not sealed to anyone signed in stays so (the log names only the request's id, the weekly counters
    do not say which payout was which), and the money it took stays out of the total, so out of what any
    category can still give. "unknown" itself holds nothing: no receipt is for it."""
    received = received_by_category(store)
    paid = counters.paid_by_category(store)
    total = sum(received.values()) - counters.paid_not_declined(store)
    return {c: min(received.get(c, 0) - paid.get(c, (0, 0))[1], total) for c in {*names, *received, *paid}}


def recover_payout_categories(store: Store, keys: KeyPair) -> int:
    """Give payouts kept without a category the category of their request, read with these keys from the request
    their signed allocation in the log names (never the payout row's, which a database writer could point
    elsewhere): the category finalizing with these keys would have counted. The number recovered. A payout
    whose request is erased, or not sealed to these keys, stays "unknown" and counts in the whole balance
    only (available_by_category)."""
    missing = set(counters.uncategorized_payouts(store))
    if not missing:
        return 0
    found = {}
    for record in log_rows.records(store):
        proposal = record["proposal"]
        if proposal["type"] == "allocation" and proposal.get("id") in missing:
            category = where(store, str(proposal["body"].get("request", "")), keys)[0]
            if category != UNKNOWN:
                found[str(proposal["id"])] = category
    if found:
        with store.write() as tx:
            for pid, category in found.items():
                counters.set_paid_category(tx, pid, category)
    return len(found)


def money_available(store: Store, category: str) -> int:
    """Whole units a money allocation for a request in this category may still take (available_by_category)."""
    return available_by_category(store, (category,))[category]


class NotEnoughMoney(DecisionRefused):
    """A money allocation larger than what its request's category holds: received there and not yet allocated.

    category and available (whole units, at least 0) say it to the person, in their language (web.pages)."""

    def __init__(self, category: str, available: int) -> None:
        self.category, self.available = category, max(0, available)
        super().__init__(f"there is not enough money recorded as received for {category} for this allocation "
                         f"({self.available} available in {category})")


class OfferGone(Refused):
    """The offer an allocation gives from is no longer open (allocated to someone else, withdrawn, expired)."""

    reason = "that offer is no longer open"


class HandedOverAlready(Refused):
    """A hand-over is recorded once for each allocation."""

    reason = "that allocation was handed over already"


class AllocationDeclined(Refused):
    """The requester declined this help before it was handed over (decisions.declines)."""

    reason = "the requester declined this help: it is no longer wanted"


def handed_over(store: Store, allocation: str) -> bool:
    """Whether the log already records a hand-over of this allocation."""
    return any(r["proposal"]["type"] == "distribution" and r["proposal"]["body"].get("allocation") == allocation
               for r in log_rows.records(store))


def check_possible(store: Store, proposal: dict[str, Any], amount: int | None = None,
                   keys: KeyPair | None = None) -> None:
    """A Refused if a decision can no longer take effect (checked at proposal and inside the finalizing write).

    amount: a money allocation's exact amount when it is not kept yet (at proposal); keys: the proposer's or
    finalizer's, to read the request's category (allocated_where)."""
    if verdict_rows.is_declined(store, str(proposal.get("id", ""))):
        raise AllocationDeclined
    if proposal["type"] == "distribution" and handed_over(store, str(proposal["body"].get("allocation"))):
        raise HandedOverAlready
    if proposal["type"] == "distribution" and verdict_rows.is_declined(store, str(proposal["body"].get("allocation"))):
        raise AllocationDeclined
    if proposal["type"] != "allocation":
        return
    source = proposal["body"].get("source") or {}
    amount = amount or exact_amount(store, proposal)
    if amount is not None:
        category = allocated_where(store, proposal, keys)[0]
        available = money_available(store, category)
        if amount > available:
            raise NotEnoughMoney(category, available)
    if source.get("kind") == "offer":
        offer = parse_id(str(source.get("ref") or ""))
        if offer is None or offer_rows.offer_status(store, offer) != "open":
            raise OfferGone
