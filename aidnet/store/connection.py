"""The engine: a SQLCipher connection, one writer at a time, and durable commits.

Every write runs inside `Store.write()`: a short exclusive file lock shared by
all worker processes, then BEGIN IMMEDIATE, one commit. The lock replaces
SQLite's sleeping busy handler, which made concurrent submissions wait in
steps of milliseconds instead of in line.

Durability: the commit is written to the WAL under the lock, and made
durable just after it with one fdatasync of the WAL (synchronous=NORMAL
leaves that to us), so the next writer, in this process or another, does not
wait for this one's disk. Write() returns only after that fdatasync: a
receipt still means the request is on disk. The WAL is append-only and one
fdatasync covers every frame before it, so whatever a later commit depends
on is on disk once that commit is. SQLite itself syncs the WAL before every
checkpoint and the database after it (SQLite's documented NORMAL behaviour),
so a commit folded into the database before our fdatasync is durable there.
"""

from __future__ import annotations

import fcntl
import os
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TypeAlias

import sqlcipher3

from ..config import Settings
from . import schema

# An open connection: inside Store.write() (or a group commit) the write transaction itself.
Tx: TypeAlias = sqlcipher3.Connection


class StorageError(Exception):
    """The database could not be opened or written (disk, key, permissions)."""


class Durability:
    """Whether this process may still acknowledge commits; shared by every Store a server process opens.

    Once an fdatasync has failed, nothing more is acknowledged until a restart:
    Linux reports a failed writeback once, so a later fdatasync could say all is
    well while frames before it never reached the disk. `on_lost` is called the
    first time (the server passes one that stops it: a failing disk needs a person).
    """

    def __init__(self, on_lost: Callable[[], None] | None = None) -> None:
        self.on_lost = on_lost
        self.lost = False

    def lose(self) -> None:
        first = not self.lost
        self.lost = True
        if first and self.on_lost is not None:
            self.on_lost()


def connect(path: Path, key: bytes, group_commit: bool = True) -> sqlcipher3.Connection:
    """Open the SQLCipher database with its raw key and the durability settings.

    group_commit=False is the baseline bench/ compares against (groupcommit.py):
    every commit is SQLite's own synchronous=FULL commit, its fsync made inside
    COMMIT, under the writer lock, and no batching.
    """
    try:
        conn = sqlcipher3.connect(str(path), isolation_level=None, check_same_thread=False)
        # Raw key: no per-connection KDF (a passphrase key costs ~100 ms an open).
        conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
        conn.execute("PRAGMA cipher_memory_security = ON")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        conn.execute("PRAGMA journal_mode = WAL")
        # Commits reach the WAL without waiting for the disk; Store.write() then fdatasyncs
        # the WAL itself, outside the writer lock, before it returns (see the module's note).
        conn.execute("PRAGMA synchronous = " + ("NORMAL" if group_commit else "FULL"))
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("PRAGMA foreign_keys = ON")
        # Sorts and temp tables stay in memory: no clear temp files on disk.
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("PRAGMA busy_timeout = 10000")
    except sqlcipher3.DatabaseError as exc:
        raise StorageError(f"cannot open database: {type(exc).__name__}") from None
    return conn


def fsync_path(path: Path | str, data_only: bool = False) -> int:
    """Make a file's content (or a folder's list of names) durable; its inode number."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        (os.fdatasync if data_only else os.fsync)(fd)
        return os.fstat(fd).st_ino
    finally:
        os.close(fd)


def _inode(path: Path) -> int:
    try:
        return os.stat(path).st_ino
    except OSError:
        return -1


class Store:
    """A connection plus the writer lock. One per thread; every write goes through write().

    Open one with open_store(settings). Used as a context manager, it closes on exit.
    """

    def __init__(self, path: Path, key: bytes, lock_path: Path, *, group_commit: bool = True,
                 durability: Durability | None = None) -> None:
        self.conn = connect(path, key, group_commit)
        self.path = path
        self.group_commit = group_commit
        self.durability = durability or Durability()
        self._lock_path = lock_path
        self._inode = _inode(path)
        # Which database this is, for writers in one process that share a commit (groupcommit).
        self.path_key = str(path.resolve())
        # The lock file's descriptor: opened at the first write and kept (two system calls
        # fewer a write); closed with the Store, or when it is collected.
        self._lock = -1
        self._lock_pid = 0
        self._lock_closer: weakref.finalize[[int], Store] | None = None
        self._writing = False
        self._wal_named = -1  # the WAL inode whose name this Store has made durable in its folder
        self._sync_after = group_commit  # else SQLite's FULL commit synced it already

    def __enter__(self) -> Store:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()
        self._drop_lock()

    def _drop_lock(self) -> None:
        if self._lock_closer is not None:
            self._lock_closer()
        self._lock, self._lock_closer = -1, None

    def _lock_fd(self) -> int:
        if self._lock >= 0 and self._lock_pid != os.getpid():
            self._lock, self._lock_closer = -1, None  # a forked child: the parent's lock is not its own
        if self._lock < 0:
            try:
                self._lock = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            except OSError:
                raise StorageError("cannot open write lock") from None
            self._lock_pid = os.getpid()
            self._lock_closer = weakref.finalize(self, os.close, self._lock)
        return self._lock

    def _take_lock(self) -> int:
        """flock the lock file, reopening it if the file at its path is no longer the one held."""
        for _attempt in range(3):
            fd = self._lock_fd()
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_ino == _inode(self._lock_path):
                return fd
            fcntl.flock(fd, fcntl.LOCK_UN)  # the lock file was replaced: hold the one at the path
            self._drop_lock()
        raise StorageError("the write lock file keeps changing")

    def _rollback(self) -> None:
        # SQLite may already have rolled back by itself (disk full, I/O error).
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlcipher3.Error:
                pass  # nothing was committed either way

    @contextmanager
    def write(self, sync: bool = True) -> Iterator[sqlcipher3.Connection]:
        """One write transaction: all of it is durable on return, or none of it.

        sync=False returns once committed, not yet durable: the caller must call
        sync() before it tells anyone (groupcommit, which lets the next batch
        start meanwhile).
        """
        if self._writing:  # flock would let the same descriptor in twice; say so instead
            raise RuntimeError("a write inside a write on the same Store")
        if self.durability.lost:
            raise StorageError("an earlier commit could not be made durable")
        lock = self._take_lock()
        self._writing = True
        committed = refused = False
        try:
            if _inode(self.path) != self._inode:
                # rekey or restore swapped the file under us: a write here would go to the old one, lost.
                raise StorageError("the database file was replaced; open it again")
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlcipher3.Error:
                raise StorageError("cannot begin write") from None
            try:
                yield self.conn
            except sqlcipher3.Error:
                # Disk full, read-only folder, I/O error mid-transaction: nothing is kept.
                self._rollback()
                raise StorageError("write failed") from None
            except BaseException:
                self._rollback()
                refused = True
                raise
            try:
                self.conn.execute("COMMIT")
            except sqlcipher3.Error:
                self._rollback()
                raise StorageError("commit failed") from None
            committed = True
        finally:
            self._writing = False
            fcntl.flock(lock, fcntl.LOCK_UN)
            # A refusal too ("this form was already sent, we have it") may rest on another
            # writer's commit that is not on disk yet: make it so before saying it.
            if sync and self._sync_after and (committed or refused):
                self.sync()

    def sync(self) -> None:
        """Make every commit so far durable: fdatasync the WAL, outside the writer lock.

        The first time a WAL file is seen, its folder is synced too, so its name
        survives a power cut (SQLite would do that at its own first sync of it).
        If the disk refuses (a failing disk), StorageError, and from then on every
        Store sharing this one's Durability refuses every write (Durability.lose).
        """
        if not self._sync_after:
            return  # the baseline: SQLite's FULL commit has synced already
        if self.durability.lost:
            raise StorageError("an earlier commit could not be made durable")
        wal = self.path.with_name(self.path.name + "-wal")
        try:
            try:
                inode = fsync_path(wal, data_only=True)
            except FileNotFoundError:  # folded into the database and removed: SQLite synced that
                fsync_path(self.path, data_only=True)
                return
            if inode != self._wal_named:
                fsync_path(self.path.parent)
                self._wal_named = inode
        except OSError:
            self.durability.lose()
            raise StorageError("cannot make the commit durable") from None

    def migrate(self) -> int:
        """Apply pending schema migrations; returns the schema version."""
        with self.write() as tx:
            return schema.migrate(tx)

    def checkpoint(self) -> bool:
        """Fold the WAL into the database and truncate it (erased pages leave every file).

        False when a reader in another connection kept it from finishing: call again.
        """
        row = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return row is None or row[0] == 0

    def checkpoint_soon(self, attempts: int = 10) -> bool:
        """checkpoint(), tried a few times: a reader in another worker can hold it back for a moment."""
        for attempt in range(attempts):
            if self.checkpoint():
                return True
            time.sleep(0.05 * (attempt + 1))
        return False

    def integrity_ok(self) -> bool:
        result: str = self.conn.execute("PRAGMA integrity_check").fetchone()[0]
        return result == "ok"

    def readable(self) -> bool:
        """True if the database answers a read and this process may still acknowledge commits."""
        try:
            self.conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        except sqlcipher3.Error:
            return False
        return not self.durability.lost


def open_store(settings: Settings, durability: Durability | None = None) -> Store:
    """A Store on the instance's database, with its key, lock and commit mode."""
    return Store(settings.database, settings.db_key, settings.lock_file, group_commit=settings.group_commit,
                 durability=durability)
