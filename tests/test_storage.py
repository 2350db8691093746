"""Storage: schema migrations carry what is stored across; the write lock holds one writer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def test_a_write_inside_a_write_on_one_store_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "db", bytes(32), tmp_path / "write.lock")
    try:
        with store.write(), pytest.raises(RuntimeError):
            with store.write():
                pass
        with store.write() as tx:  # and the store still works
            tx.execute("CREATE TABLE t (x)")
    finally:
        store.close()


def test_a_replaced_lock_file_is_the_one_locked(tmp_path: Path) -> None:
    """A Store keeps its lock file open; if the file is replaced it must lock the new one."""
    import fcntl
    import os
    import threading

    lock_path = tmp_path / "write.lock"
    store = Store(tmp_path / "db", bytes(32), lock_path)
    try:
        with store.write():
            pass  # the descriptor is now open and kept
        os.unlink(lock_path)
        other = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)  # another writer holds the new file
        fcntl.flock(other, fcntl.LOCK_EX)
        done = threading.Event()

        def write() -> None:
            with store.write():
                done.set()

        thread = threading.Thread(target=write)
        thread.start()
        assert not done.wait(0.3)  # waits for the holder of the file at the path
        fcntl.flock(other, fcntl.LOCK_UN)
        os.close(other)
        thread.join(5)
        assert done.is_set()
    finally:
        store.close()


def test_a_write_returns_after_fdatasync_of_the_wal_made_outside_the_writer_lock(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """synchronous=NORMAL leaves durability to Store.write(): one fdatasync of the WAL, once
    the lock is free for the next writer, and the folder synced the first time a WAL is seen."""
    import fcntl
    import os

    store = Store(tmp_path / "db", bytes(range(32)), tmp_path / "write.lock")
    store.migrate()
    synced: list[tuple[str, str, bool]] = []
    real_fdatasync, real_fsync = os.fdatasync, os.fsync

    def lock_is_free() -> bool:
        probe = os.open(tmp_path / "write.lock", os.O_RDWR)
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        finally:
            os.close(probe)

    def record(kind: str, real: Any) -> Any:
        def call(fd: int) -> None:
            synced.append((kind, os.readlink(f"/proc/self/fd/{fd}"), lock_is_free()))
            real(fd)
        return call

    monkeypatch.setattr(os, "fdatasync", record("fdatasync", real_fdatasync))
    monkeypatch.setattr(os, "fsync", record("fsync", real_fsync))
    try:
        assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL: no sync inside COMMIT
        store._wal_named = -1  # as if this Store had not seen the WAL yet
        for n in range(2):
            synced.clear()
            with store.write() as tx:
                assert store.use_form_nonce(tx, bytes([n]) * 32, 5)
            wal_syncs = [s for s in synced if s[0] == "fdatasync" and s[1].endswith("db-wal")]
            assert len(wal_syncs) == 1 and wal_syncs[0][2]  # after the lock was released
            folder_syncs = [s for s in synced if s[0] == "fsync" and s[1] == str(tmp_path)]
            assert len(folder_syncs) == (1 if n == 0 else 0)  # the WAL's name: once
    finally:
        store.close()


def test_a_refused_write_is_synced_before_it_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """'Already sent, we have it' may rest on another writer's commit that is not on disk yet."""
    import os

    store = Store(tmp_path / "db", bytes(range(32)), tmp_path / "write.lock")
    store.migrate()
    synced: list[str] = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real(fd)))
    try:
        with pytest.raises(ValueError), store.write() as tx:
            store.use_form_nonce(tx, b"r" * 32, 5)
            raise ValueError("refused, as a replayed form is")
        assert any(path.endswith("db-wal") for path in synced)
        assert store.conn.execute("SELECT count(*) FROM used_forms").fetchone()[0] == 0
    finally:
        store.close()


def test_after_a_failed_fdatasync_nothing_more_is_acknowledged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              settings: Any) -> None:
    """Linux reports a failed writeback once: a later fdatasync could pass while frames before it are lost."""
    import errno
    import os

    from aidnet import create_app

    monkeypatch.setattr(storage, "_durability_lost", False)  # restored after the test
    stopped: list[bool] = []
    monkeypatch.setattr(storage, "on_durability_lost", lambda: stopped.append(True))
    app = create_app(settings)  # made before: after the failure even a new worker's start is refused
    store = Store(settings.database, settings.db_key, settings.lock_file)
    real = os.fdatasync

    def failing(fd: int) -> None:
        raise OSError(errno.EIO, "I/O error")

    try:
        monkeypatch.setattr(os, "fdatasync", failing)
        with pytest.raises(storage.StorageError), store.write() as tx:
            store.use_form_nonce(tx, b"a" * 32, 5)
        monkeypatch.setattr(os, "fdatasync", real)  # the disk seems fine again: it is not trusted
        with pytest.raises(storage.StorageError), store.write() as tx:
            store.use_form_nonce(tx, b"b" * 32, 5)
        assert stopped == [True] and storage.durability_lost()
        assert app.test_client().get("/healthz").status_code == 503
        with pytest.raises(storage.StorageError):
            create_app(settings)
    finally:
        store.close()


def test_the_server_stops_at_once_when_the_disk_refuses() -> None:
    import subprocess

    from aidnet import server

    master = subprocess.Popen(["sleep", "30"])  # stands in for gunicorn's master
    server._stop_for_disk(master.pid)
    assert master.wait(timeout=10) == -3  # SIGQUIT: gunicorn's quick shutdown
