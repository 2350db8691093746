"""Offline keyholders (bundles out, signatures in) and requesters' disputes, over the decision log."""

from __future__ import annotations

import base64
from typing import Any

from crypto.log import LogError

from . import intake, logstore
from .config import Settings
from .governance import add_signature, current, new_proposal, propose, seal_note
from .storage import Store


def export_bundle(store: Store) -> dict[str, Any]:
    """What an offline keyholder needs: the log, pending proposals, and sealed records (still sealed)."""
    sealed = []
    for table, (kind, _query) in logstore.SEALED_TABLES.items():
        for record_id, envelope, _extra in logstore.sealed_records(store, table):
            sealed.append({"table": table, "kind": kind, "id": record_id.hex(),
                           "envelope": base64.b64encode(envelope).decode("ascii")})
    notes = {pid: base64.b64encode(envelope).decode("ascii") for pid, envelope in logstore.all_notes(store)}
    return {"v": 1, "log": logstore.records(store), "pending": [p.proposal for p in logstore.proposals(store)],
            "sealed": sealed, "notes": notes}


def import_signatures(store: Store, items: list[dict[str, Any]]) -> tuple[int, int, int]:
    """Add signatures made offline; returns (accepted, refused, now final)."""
    accepted = refused = final = 0
    for item in items:
        try:
            pid, signature = str(item["proposal"]), dict(item["signature"])
            made_final = add_signature(store, pid, signature)
        except (LogError, KeyError, TypeError, ValueError):
            refused += 1
            continue
        accepted += 1
        final += made_final
    return accepted, refused, final


def _request_for(store: Store, settings: Settings, codename: str) -> str | None:
    row = intake.request_for_codename(store, settings, codename)
    return row.id.hex() if row else None


def decisions_for_codename(store: Store, settings: Settings, codename: str) -> list[dict[str, Any]] | None:
    """Final decisions about the codename's request (None for a wrong or unknown codename)."""
    request_id = _request_for(store, settings, codename)
    if request_id is None:
        return None
    state = current(store)
    out = []
    for record in logstore.records(store):
        proposal = record["proposal"]
        if proposal["type"] in ("allocation", "distribution") and proposal["body"].get("request") == request_id:
            out.append({"id": proposal["id"], "type": proposal["type"],
                        "disputed": proposal["id"] in state.open_disputes.values()})
    return out


def requester_dispute(store: Store, settings: Settings, codename: str, decision_id: str, note: str) -> bool:
    """A requester disputes a decision about their own request; recorded in the log at once."""
    decisions = decisions_for_codename(store, settings, codename)
    # Only a decision about their own request, and only one open dispute at a time (no log flooding).
    if decisions is None or decision_id not in {d["id"] for d in decisions if not d["disputed"]}:
        return False
    proposal = new_proposal(store, "dispute", {"decision": decision_id, "raised_by": "requester"})
    request_id = _request_for(store, settings, codename)
    proposal["body"]["note"] = seal_note(store, proposal["id"], note, request_id)
    return propose(store, None, proposal)
