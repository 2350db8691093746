"""A requester's say over decisions about their own request: see them, and dispute one, with the codename."""

from __future__ import annotations

from typing import Any

from ..config import Settings
from ..records.requests import find_by_codename
from ..sealing.readers import current
from ..store import Store
from ..store import decision_log as log_rows
from .notes import seal_note
from .proposals import new_proposal, propose

DISPUTABLE = ("allocation", "distribution")


def _request_for(store: Store, settings: Settings, codename: str) -> str | None:
    found = find_by_codename(store, settings, codename)
    return found[0].id.hex() if found else None


def decisions_for_codename(store: Store, settings: Settings, codename: str) -> list[dict[str, Any]] | None:
    """Final decisions about the codename's request (None for a wrong or unknown codename)."""
    request_hex = _request_for(store, settings, codename)
    if request_hex is None:
        return None
    state = current(store)
    # Disputed: an open dispute in the log, or one raised and waiting for a keyholder to enter it.
    disputed = set(state.open_disputes.values()) | {
        str(p.proposal["body"].get("decision")) for p in log_rows.proposals(store) if p.proposal["type"] == "dispute"}
    out = []
    for record in log_rows.records(store):
        proposal = record["proposal"]
        if proposal["type"] in DISPUTABLE and proposal["body"].get("request") == request_hex:
            out.append({"id": proposal["id"], "type": proposal["type"], "disputed": proposal["id"] in disputed})
    return out


def requester_dispute(store: Store, settings: Settings, codename: str, decision_id: str, note: str) -> bool:
    """A requester disputes a decision about their own request; True once it is recorded.

    It enters the log, sealed, when a keyholder next opens the Decisions page (a requester holds no
    member key to seal its place); until then it waits with the proposals, and counts as raised.
    """
    decisions = decisions_for_codename(store, settings, codename)
    # Only a decision about their own request, and only one open dispute at a time (no log flooding).
    if decisions is None or decision_id not in {d["id"] for d in decisions if not d["disputed"]}:
        return False
    proposal = new_proposal("dispute", {"decision": decision_id, "raised_by": "requester"})
    proposal["body"]["note"] = seal_note(store, proposal["id"], note, _request_for(store, settings, codename))
    propose(store, settings, None, proposal)
    return True
