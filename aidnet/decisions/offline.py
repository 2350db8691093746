"""Offline keyholders: a bundle out (the log, pending proposals, sealed records, period keys), signatures back in.

The server never sees an offline keyholder's private key: it hands out what
is sealed, still sealed, and takes back signatures that anyone can check
against the log. A bundle handed out carries the day it expires (policy
bundle_days after it was made), signed with the whole bundle by the member who
made it: the keyholder tool refuses it after that day, so copies of every
sealed record do not live on in downloads folders.
"""

from __future__ import annotations

import base64
from typing import Any

from crypto import KeyPair
from crypto.bundles import sign_bundle

from .. import dates
from ..config import Settings
from ..errors import Refused
from ..sealing.readers import current
from ..store import Store
from ..store import decision_log as log_rows
from ..store import periods as period_rows
from ..store import sealed as sealed_rows
from .proposals import DecisionRefused, add_signature

BUNDLE_VERSION = 3


def export_bundle(store: Store) -> dict[str, Any]:
    """What an offline keyholder needs: the log, pending proposals, and sealed records (still sealed), unsigned.

    Handed out only through signed_bundle, which adds the expiry day and the signature.
    """
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
    return {"v": BUNDLE_VERSION, "log": log_rows.records(store),
            "pending": [{"proposal": p.proposal, "signatures": p.signatures} for p in log_rows.proposals(store)],
            "sealed": sealed, "notes": notes, "periods": periods}


def expiry_day(settings: Settings, today: int | None = None) -> int:
    """The last day a bundle made today can be read."""
    return (dates.today() if today is None else today) + settings.policy.bundle_days


def signed_bundle(store: Store, settings: Settings, keys: KeyPair, today: int | None = None) -> dict[str, Any]:
    """A bundle to hand out: made today, expiring after bundle_days, signed by keys (a member of the log).

    DecisionRefused if keys are not a member's: the keyholder tool trusts a bundle's signature only
    from a member of the log the bundle carries.
    """
    if keys.sign_public.hex() not in current(store).members:
        raise DecisionRefused("only a member of the decision log can hand out a bundle")
    day = dates.today() if today is None else today
    return sign_bundle({**export_bundle(store), "made": day, "expires": expiry_day(settings, day)}, keys.sign_seed)


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
