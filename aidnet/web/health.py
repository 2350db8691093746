"""A health check for supervisors and load balancers that reveals nothing.

It answers "ok" when the database opens and reads, "unavailable" otherwise:
no version, no counts, no timings, nothing that tells one instance from another.
"""

from __future__ import annotations

from flask import Blueprint, Response

from .connections import get_store

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    try:
        # Also unavailable once the disk refused an fdatasync: nothing is acknowledged any more.
        ok = get_store().readable()
    except Exception:  # any failure at all is the same one word, with no detail
        ok = False
    if not ok:
        return Response("unavailable\n", status=503, mimetype="text/plain")
    return Response("ok\n", status=200, mimetype="text/plain")
