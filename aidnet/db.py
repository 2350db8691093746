"""The per-request Store on Flask's g, closed at teardown."""

from __future__ import annotations

from flask import current_app, g

from .config import Settings
from .storage import Store


def settings() -> Settings:
    value: Settings = current_app.config["AIDNET"]
    return value


def get_store() -> Store:
    if "store" not in g:
        s = settings()
        g.store = Store(s.database, s.db_key, s.lock_file)
    store: Store = g.store
    return store


def close_store(_exc: BaseException | None = None) -> None:
    store = g.pop("store", None)
    if store is not None:
        store.close()
