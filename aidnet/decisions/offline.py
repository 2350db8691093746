"""Offline keyholders: a bundle out (the log, pending proposals, sealed records, period keys), signatures back in.

The server never sees an offline keyholder's private key: it hands out what
is sealed, still sealed, and takes back signatures that anyone can check
against the log.
"""

from __future__ import annotations

import base64
from typing import Any

from ..config import Settings
from ..errors import Refused
from ..store import Store
from ..store import decision_log as log_rows
from ..store import periods as period_rows
from ..store import sealed as sealed_rows
from .proposals import add_signature


def export_bundle(store: Store) -> dict[str, Any]:
    """What an offline keyholder needs: the log, pending proposals, and sealed records (still sealed)."""
    sealed = []
    for table, spec in sealed_rows.SEALED_TABLES.items():
        if table == "notes":
            continue  # carried beside the decisions they belong to
        for _rowid, record_id, envelope, parent, _column in sealed_rows.sealed_records(store, table):
            sealed.append({"table": table, "kind": spec.kind, "id": record_id.hex(), "parent": parent.hex(),
                           "envelope": base64.b64encode(envelope).decode("ascii")})
    notes = {pid: {"envelope": base64.b64encode(envelope).decode("ascii"), "parent": parent.hex()}
             for pid, envelope, parent in log_rows.all_notes(store)}
    periods = [{"hint": k.hint.hex(), "public": k.public.hex(), "sealed": base64.b64encode(k.sealed).decode("ascii")}
               for k in period_rows.every(store)]
    return {"v": 2, "log": log_rows.records(store),
            "pending": [{"proposal": p.proposal, "signatures": p.signatures} for p in log_rows.proposals(store)],
            "sealed": sealed, "notes": notes, "periods": periods}


def import_signatures(store: Store, settings: Settings, items: list[dict[str, Any]]) -> tuple[int, int, int]:
    """Add signatures made offline; returns (accepted, refused, now final).

    A decision that has its quorum becomes final now if the seal a signer brought fits the place it lands
    in; otherwise it waits for a member signed in to the web to seal it (proposals.finalize_ready).
    """
    accepted = refused = final = 0
    for item in items:
        try:
            pid, signature = str(item["proposal"]), dict(item["signature"])
            seal = item.get("seal")
            made_final = add_signature(store, settings, pid, signature, seal=seal if isinstance(seal, dict) else None)
        except (Refused, KeyError, TypeError, ValueError):
            refused += 1
            continue
        accepted += 1
        final += made_final
    return accepted, refused, final
