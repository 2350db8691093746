"""A health check for supervisors and load balancers that reveals nothing.

It answers "ok" when the database opens and reads, "unavailable" otherwise:
no version, no counts, no timings, nothing that tells one instance from another.
"""

from __future__ import annotations

from flask import Blueprint, Response

from ..db import get_store
from ..storage import durability_lost

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    try:
        get_store().conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        # Also unavailable once the disk refused an fdatasync: nothing is acknowledged any more.
        ok = not durability_lost()
    except Exception:  # any failure at all is the same one word, with no detail
        ok = False
    if not ok:
        return Response("unavailable\n", status=503, mimetype="text/plain")
    return Response("ok\n", status=200, mimetype="text/plain")
