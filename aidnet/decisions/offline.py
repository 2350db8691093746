"""Offline keyholders: a bundle out (the log, pending proposals, sealed records), signatures back in.

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
from ..store import sealed as sealed_rows
from .proposals import add_signature


def export_bundle(store: Store) -> dict[str, Any]:
    """What an offline keyholder needs: the log, pending proposals, and sealed records (still sealed)."""
    sealed = []
    for table, (kind, _query) in sealed_rows.SEALED_TABLES.items():
        for _rowid, record_id, envelope, _extra in sealed_rows.sealed_records(store, table):
            sealed.append({"table": table, "kind": kind, "id": record_id.hex(),
                           "envelope": base64.b64encode(envelope).decode("ascii")})
    notes = {pid: base64.b64encode(envelope).decode("ascii") for pid, envelope in log_rows.all_notes(store)}
    return {"v": 1, "log": log_rows.records(store), "pending": [p.proposal for p in log_rows.proposals(store)],
            "sealed": sealed, "notes": notes}


def import_signatures(store: Store, settings: Settings, items: list[dict[str, Any]]) -> tuple[int, int, int]:
    """Add signatures made offline; returns (accepted, refused, now final)."""
    accepted = refused = final = 0
    for item in items:
        try:
            pid, signature = str(item["proposal"]), dict(item["signature"])
            made_final = add_signature(store, settings, pid, signature)
        except (Refused, KeyError, TypeError, ValueError):
            refused += 1
            continue
        accepted += 1
        final += made_final
    return accepted, refused, final
