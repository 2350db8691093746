"""The Store a request uses, on Flask's g; one kept open per thread and reused.

Opening a SQLCipher connection (key, schema, pragmas) and closing it (the last
one out checkpoints the WAL) cost ~3 ms, a third of a whole submission, so
each server thread keeps its connection between requests (bench/ measured
it). A connection is dropped, not reused, if a request ends with an error or
left a transaction open.
"""

from __future__ import annotations

import threading

from flask import current_app, g

from ..config import Settings
from ..records.budget import IntakeBudget
from ..store import Store, open_store


def settings() -> Settings:
    value: Settings = current_app.config["AIDNET"]
    return value


def intake_budget() -> IntakeBudget:
    """The public forms' budget a minute, shared by every worker of the server (records/budget.py)."""
    value: IntakeBudget = current_app.config["AIDNET_INTAKE"]
    return value


def _pool() -> threading.local:
    # Per app (so tests with many apps never share one) and per thread.
    pool: threading.local = current_app.extensions.setdefault("aidnet_store_pool", threading.local())
    return pool


def get_store() -> Store:
    if "store" not in g:
        pool = _pool()
        store = getattr(pool, "store", None)
        if store is None:
            store = open_store(settings(), current_app.config["AIDNET_DURABILITY"])
            pool.store = store
        g.store = store
    store_: Store = g.store
    return store_


def close_store(exc: BaseException | None = None) -> None:
    store = g.pop("store", None)
    if store is None:
        return
    if exc is not None or store.conn.in_transaction:
        _pool().store = None
        store.close()
