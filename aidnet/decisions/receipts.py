"""Money and stock received, as signed decisions: nothing counts for the balance until its receipt is final.

A receipt of money at or above the group's threshold (itself a decision, set_threshold) needs the quorum;
below it, and for stock, one member's signature makes it final (crypto.log LogState.required). The log
carries the category and the 1-2-5 band of a money amount; the exact amount is kept beside it
(counters.keep_where) and counts for the balance, never above the signed band. The details (who gave,
what) are sealed in the stock row, never in the log.
"""

from __future__ import annotations

from dataclasses import dataclass

from crypto import KeyPair

from ..config import Settings
from ..records import offers
from ..sealing.readers import current
from ..store import Store, counters
from ..store import decision_log as log_rows
from ..store import offers as offer_rows
from . import effects, proposals
from .notes import seal_note


def receive(store: Store, settings: Settings, keys: KeyPair, kind: str, category: str, amount: int,
            note: str) -> bool:
    """Propose a receipt signed by this member and seal its details; True if it is final already."""
    if kind not in offers.STOCK_KINDS or category not in settings.categories:
        raise proposals.DecisionRefused("unknown kind or category")
    proposal = proposals.new_proposal("receipt", {"kind": kind, "category": category, "amount": amount}, keys)
    proposal["body"]["note"] = seal_note(store, proposal["id"], note)
    final = proposals.propose(store, settings, keys, proposal)
    offers.record_stock(store, settings, kind, category, amount, note, proposal["id"])
    return final


class AlreadyProposed(proposals.DecisionRefused):
    """An entry recorded before receipts were signed is proposed as a receipt once."""

    reason = "that entry has a receipt already"


def receive_recorded(store: Store, settings: Settings, keys: KeyPair, seq: int) -> bool:
    """Propose as a signed receipt an entry recorded before receipts were signed (it counted in the public
    counters then, so it does not count there again); True if it is final already."""
    entry = offers.stock_entry(store, keys, seq)
    if entry is None or entry.receipt:
        raise AlreadyProposed
    proposal = proposals.new_proposal("receipt", {"kind": entry.kind, "category": entry.category,
                                                  "amount": entry.amount, "note": None}, keys)
    with store.write() as tx:  # linked first: made final at once, it must already know it was counted
        if not offer_rows.link_receipt(tx, seq, proposal["id"]):
            raise AlreadyProposed
    try:
        return proposals.propose(store, settings, keys, proposal)
    except proposals.DecisionRefused:
        with store.write() as tx:
            offer_rows.unlink_receipt(tx, seq, proposal["id"])
        raise


@dataclass(frozen=True)
class Balance:
    """Whole units of money for one category: received by final receipts, allocated by final allocations, and
    what a money allocation in it may still take (effects.available_by_category: never above the whole balance)."""

    category: str
    received: int
    allocated: int
    budget: int | None  # the monthly budget the log sets, if any
    available: int


def balances(store: Store, settings: Settings) -> list[Balance]:
    """Every configured category (and any other that holds money), in config order.

    Payouts made final before payouts kept their category are under "unknown" (effects.available_by_category)."""
    found = counters.paid_by_category(store)
    for category, units in effects.received_by_category(store).items():
        found[category] = (units, found.get(category, (0, 0))[1])
    budgets = current(store).budgets
    names = list(settings.categories) + sorted(set(found) - set(settings.categories))
    available = effects.available_by_category(store, names)
    return [Balance(c, *found.get(c, (0, 0)), budgets.get(c), available[c]) for c in names]


def threshold(store: Store) -> int:
    """Money received at or above this many whole units (its band) needs the quorum."""
    return current(store).threshold


def waiting(store: Store) -> set[str]:
    """Ids of receipts waiting for signatures."""
    return {p.id for p in log_rows.proposals(store) if p.proposal["type"] == "receipt"}

