"""A nudge without content: counts a timer may send through whatever channel the group already uses.

Only counts, each rounded up to a bucket, so a message seen by a carrier, a mail host or a shoulder-surfer
says that there is work, never what or where: no category, area, text or exact number.
"""

from __future__ import annotations

from ..store import Store
from ..store import decision_log as log_rows
from ..store import requests as request_rows

BUCKETS = (0, 5, 20, 100)  # 0, 1-5, 6-20, 21-100, more than 100


def bucket(n: int) -> str:
    """n as the bucket it falls in: "0", "1-5", "6-20", "21-100" or "more than 100"."""
    if n <= 0:
        return "0"
    for low, high in zip(BUCKETS, BUCKETS[1:], strict=False):
        if n <= high:
            return f"{low + 1}-{high}"
    return f"more than {BUCKETS[-1]}"


def digest(store: Store) -> list[tuple[str, str]]:
    """(what, bucket) lines: new requests, requests nobody handles yet, decisions waiting for signatures."""
    new = len(request_rows.page(store, 0, BUCKETS[-1] + 1, request_rows.Filter(status="new")))
    unhandled = len(request_rows.page(store, 0, BUCKETS[-1] + 1,
                                      request_rows.Filter(status="new", unassigned=True)))
    pending = len(log_rows.proposals(store))
    return [("new requests", bucket(new)), ("nobody handling yet", bucket(unhandled)),
            ("decisions waiting for signatures", bucket(pending))]
