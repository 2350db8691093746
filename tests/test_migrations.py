"""Schema migrations carry what is stored across; a database migrates at most once."""

from __future__ import annotations

from pathlib import Path

import pytest

from aidnet import storage
from aidnet.storage import Store


def test_the_write_path_tables_move_to_one_btree_each_and_keep_their_rows(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    key = bytes(range(32))
    store = Store(tmp_path / "db", key, tmp_path / "write.lock")
    try:
        with monkeypatch.context() as m:
            m.setattr(storage, "MIGRATIONS", storage.MIGRATIONS[:-1])
            store.migrate()
        with store.write() as tx:
            assert store.use_form_nonce(tx, b"n" * 32, 5)
            store.bump_counter(tx, "2026-W48", "food", "north", "received")
            store.bump_counter(tx, "2026-W48", "food", "north", "received")
        assert store.migrate() == len(storage.MIGRATIONS)
        assert store.migrate() == len(storage.MIGRATIONS)  # a second start changes nothing
        for table in ("used_forms", "counters"):
            sql = store.conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
            assert "WITHOUT ROWID" in sql
        assert store.counters() == [("2026-W48", "food", "north", "received", 2)]
        with store.write() as tx:
            assert not store.use_form_nonce(tx, b"n" * 32, 5)  # still known: a replay
            store.bump_counter(tx, "2026-W48", "food", "north", "received")
        assert store.counters()[0][4] == 3
        assert store.integrity_ok()
    finally:
        store.close()
