"""Storage: schema migrations carry what is stored across; the write lock holds one writer."""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from aidnet.serve import server
from aidnet.store import Durability, StorageError, Store, counters, open_store, schema
from aidnet.store import requests as request_rows
from aidnet.web.app import create_app


def test_the_write_path_tables_move_to_one_btree_each_and_keep_their_rows(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    key = bytes(range(32))
    store = Store(tmp_path / "db", key, tmp_path / "write.lock")
    try:
        with monkeypatch.context() as m:
            m.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:6])  # a database from before the move
            store.migrate()
        with store.write() as tx:
            assert request_rows.use_form_nonce(tx, b"n" * 32, 5)
            counters.bump(tx, "2026-W48", "food", "north", "received")
            counters.bump(tx, "2026-W48", "food", "north", "received")
        assert store.migrate() == len(schema.MIGRATIONS)
        assert store.migrate() == len(schema.MIGRATIONS)  # a second start changes nothing
        for table in ("used_forms", "counters"):
            sql = store.conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
            assert "WITHOUT ROWID" in sql
        assert counters.all_counters(store) == [("2026-W48", "food", "north", "received", 2)]
        with store.write() as tx:
            assert not request_rows.use_form_nonce(tx, b"n" * 32, 5)  # still known: a replay
            counters.bump(tx, "2026-W48", "food", "north", "received")
        assert counters.all_counters(store)[0][4] == 3
        assert store.integrity_ok()
    finally:
        store.close()


def test_a_new_database_gets_in_one_step_the_schema_every_migration_builds(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def schema_of(store: Store) -> list[tuple[Any, ...]]:
        tables = store.conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name").fetchall()
        columns = [(t, *c) for _type, t, _tbl, _sql in tables if _type == "table"
                   for c in store.conn.execute(f'PRAGMA table_xinfo("{t}")')]  # noqa: S608  # names from the schema
        keys = [(t, *k) for _type, t, _tbl, _sql in tables if _type == "table"
                for k in store.conn.execute(f'PRAGMA foreign_key_list("{t}")')]  # noqa: S608
        return [*tables, *columns, *keys, store.conn.execute("PRAGMA user_version").fetchone()]

    walked = Store(tmp_path / "walked", bytes(32), tmp_path / "walked.lock")
    fresh = Store(tmp_path / "fresh", bytes(range(32)), tmp_path / "fresh.lock")
    try:
        with monkeypatch.context() as m:
            m.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
            walked.migrate()  # an instance from the first release: every later step runs one by one
        assert walked.migrate() == fresh.migrate() == len(schema.MIGRATIONS)
        assert schema_of(walked) == schema_of(fresh)
        assert len(schema_of(fresh)) > 100 and fresh.integrity_ok()
    finally:
        walked.close()
        fresh.close()


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
    with Store(tmp_path / "db", bytes(range(32)), tmp_path / "write.lock") as first:
        first.migrate()
    store = Store(tmp_path / "db", bytes(range(32)), tmp_path / "write.lock")  # has not seen a WAL yet
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
        for n in range(2):
            synced.clear()
            with store.write() as tx:
                assert request_rows.use_form_nonce(tx, bytes([n]) * 32, 5)
            wal_syncs = [s for s in synced if s[0] == "fdatasync" and s[1].endswith("db-wal")]
            assert len(wal_syncs) == 1 and wal_syncs[0][2]  # after the lock was released
            folder_syncs = [s for s in synced if s[0] == "fsync" and s[1] == str(tmp_path)]
            assert len(folder_syncs) == (1 if n == 0 else 0)  # the WAL's name: once
    finally:
        store.close()


def test_a_refused_write_is_synced_before_it_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """'Already sent, we have it' may rest on another writer's commit that is not on disk yet."""
    store = Store(tmp_path / "db", bytes(range(32)), tmp_path / "write.lock")
    store.migrate()
    synced: list[str] = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real(fd)))
    try:
        with pytest.raises(ValueError), store.write() as tx:
            request_rows.use_form_nonce(tx, b"r" * 32, 5)
            raise ValueError("refused, as a replayed form is")
        assert any(path.endswith("db-wal") for path in synced)
        assert store.conn.execute("SELECT count(*) FROM used_forms").fetchone()[0] == 0
    finally:
        store.close()


def test_after_a_failed_fdatasync_nothing_more_is_acknowledged(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    """Linux reports a failed writeback once: a later fdatasync could pass while frames before it are lost."""
    stopped: list[bool] = []
    durability = Durability(on_lost=lambda: stopped.append(True))
    app = create_app(settings, durability=durability)  # its Stores share the one Durability
    store = open_store(settings, durability)
    real = os.fdatasync

    def failing(fd: int) -> None:
        raise OSError(errno.EIO, "I/O error")

    try:
        monkeypatch.setattr(os, "fdatasync", failing)
        with pytest.raises(StorageError), store.write() as tx:
            request_rows.use_form_nonce(tx, b"a" * 32, 5)
        monkeypatch.setattr(os, "fdatasync", real)  # the disk seems fine again: it is not trusted
        with pytest.raises(StorageError), store.write() as tx:
            request_rows.use_form_nonce(tx, b"b" * 32, 5)
        assert stopped == [True] and durability.lost
        assert app.test_client().get("/healthz").status_code == 503
        with pytest.raises(StorageError):
            create_app(settings, durability=durability)  # a new worker's start is refused too
    finally:
        store.close()


def test_the_server_stops_at_once_when_the_disk_refuses() -> None:
    # The stand-in for gunicorn's master takes SIGQUIT's default action whatever it inherited:
    # a shell running the suite in the background makes its children ignore SIGQUIT.
    master = subprocess.Popen([sys.executable, "-c", "import signal, time; "
                               "signal.signal(signal.SIGQUIT, signal.SIG_DFL); print('ready', flush=True); time.sleep(30)"],
                              stdout=subprocess.PIPE)
    assert master.stdout is not None and master.stdout.readline() == b"ready\n"
    server.stop_for_disk(master.pid)
    assert master.wait(timeout=10) == -signal.SIGQUIT  # gunicorn's quick shutdown
    master.stdout.close()
