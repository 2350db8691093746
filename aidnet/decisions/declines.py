"""A requester declines the help agreed for them before it is handed over: "I don't need this any more".

The server cannot make or undo a decision, and this is not one: the log keeps
every allocation as it was signed. Declining is the requester's own act, made
with their codename, and it changes what those allocations still hold:

- an allocation already final and not handed over is marked declined: its
  money no longer counts against the balance (its exact amount stays in
  money_paid, so the request's published money stays clipped over all its
  payouts), its offer is open again, and no hand-over of it can be made final
  (effects.check_possible refuses one: AllocationDeclined);
- an allocation (or a hand-over) still waiting for signatures is closed as
  declined, so it can never become final;
- the request is closed.

All in one write transaction, read and changed under the writer lock, so a
decision finalized at the same moment is either seen and declined or lands
after and is refused. Nothing is counted: the releases still show the week's
allocations as they were decided.
"""

from __future__ import annotations

from typing import Any

from ..config import Settings
from ..errors import Refused
from ..records.requests import find_by_codename, parse_id
from ..store import Store, counters
from ..store import decision_log as log_rows
from ..store import offers as offer_rows
from ..store import requests as request_rows
from ..store import verdicts as verdict_rows

OPEN_STATUSES = ("new", "in_progress", "allocated")


class NothingToDecline(Refused):
    """No allocation for this request waits to be handed over."""

    reason = "no help agreed for this request is waiting to be handed over"


def _handed(records: list[dict[str, Any]], waiting: list[log_rows.Proposal]) -> set[str]:
    return {str(p["body"].get("allocation")) for p in [r["proposal"] for r in records] + [w.proposal for w in waiting]
            if p["type"] == "distribution"}


def _open_allocations(store: Store, request_hex: str, finals: bool = True
                      ) -> tuple[list[dict[str, Any]], list[log_rows.Proposal]]:
    """(final allocations not handed over nor declined, allocations waiting for signatures) for a request.

    finals=False skips reading the log (only the waiting proposals are looked at).
    """
    records = log_rows.records(store) if finals else []
    waiting = log_rows.proposals(store)
    handed, declined = _handed(records, []), verdict_rows.declined(store)
    final = [r["proposal"] for r in records if r["proposal"]["type"] == "allocation"
             and r["proposal"]["body"].get("request") == request_hex
             and r["proposal"]["id"] not in handed and r["proposal"]["id"] not in declined]
    pending = [p for p in waiting if p.proposal["type"] == "allocation" and p.proposal["body"].get("request") == request_hex]
    return final, pending


def can_decline(store: Store, settings: Settings, codename: str) -> bool:
    """Whether the codename's request has help agreed or proposed that is not yet handed over."""
    found = find_by_codename(store, settings, codename)
    if found is None:
        return False
    # A final allocation not yet handed over leaves the request "allocated": only then is the log read,
    # so the status page of every other request costs no walk through the log.
    row = found[0]
    final, pending = _open_allocations(store, row.id.hex(), finals=row.status == "allocated")
    return bool(final or pending)


def decline(store: Store, settings: Settings, codename: str) -> bool:
    """Decline every allocation for the codename's request not yet handed over; False if the codename finds nothing.

    NothingToDecline if none waits. Durable on return (one commit).
    """
    found = find_by_codename(store, settings, codename)
    if found is None:
        return False
    row = found[0]
    request_hex = row.id.hex()
    with store.write() as tx:
        now = request_rows.by_id(store, row.id)
        if now is None:  # withdrawn meanwhile
            return False
        final, pending = _open_allocations(store, request_hex)
        if not final and not pending:
            raise NothingToDecline
        for proposal in final:
            pid = str(proposal["id"])
            verdict_rows.mark_declined(tx, pid)  # its money leaves the balance's side (counters.paid_not_declined)
            source = proposal["body"].get("source") or {}
            offer = parse_id(str(source.get("ref") or "")) if source.get("kind") == "offer" else None
            if offer is not None and offer_rows.offer_status(store, offer) == "allocated":
                offer_rows.set_offer_status(tx, offer, "open")
        declined = {str(p["id"]) for p in final}
        waiting_ids = {p.id for p in pending}
        for waiting in log_rows.proposals(store):
            body = waiting.proposal["body"]
            if waiting.id in waiting_ids or (waiting.proposal["type"] == "distribution" and body.get("allocation") in declined):
                verdict_rows.mark_declined(tx, waiting.id)
                log_rows.update_proposal(tx, waiting.id, waiting.signatures, waiting.declines, "declined")
                counters.take_where(tx, waiting.id)
        if now.status in OPEN_STATUSES:
            request_rows.set_status_from(tx, row.id, now.status, "closed")
    return True
