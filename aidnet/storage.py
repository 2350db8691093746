"""The only module that speaks SQL. SQLCipher, WAL, one writer at a time.

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
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlcipher3

MIGRATIONS = [
    # 1: the first slice
    """
    CREATE TABLE requests (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id BLOB NOT NULL UNIQUE,
        envelope BLOB NOT NULL,
        status TEXT NOT NULL,
        expires_day INTEGER NOT NULL,
        lookup_hash BLOB NOT NULL UNIQUE,
        reply_public BLOB NOT NULL
    );
    CREATE TABLE replies (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id BLOB NOT NULL UNIQUE,
        request_id BLOB NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
        envelope BLOB NOT NULL
    );
    CREATE INDEX replies_by_request ON replies(request_id, seq);
    CREATE TABLE coordinators (
        id INTEGER PRIMARY KEY,
        handle TEXT NOT NULL UNIQUE,
        box_public BLOB NOT NULL,
        sign_public BLOB NOT NULL,
        wrapped_keys BLOB NOT NULL
    );
    CREATE TABLE sessions (
        token_hash BLOB PRIMARY KEY,
        coordinator_id INTEGER NOT NULL REFERENCES coordinators(id) ON DELETE CASCADE,
        wrapped_keys BLOB NOT NULL,
        idle_until INTEGER NOT NULL,
        hard_until INTEGER NOT NULL
    );
    CREATE TABLE counters (
        week TEXT NOT NULL,
        category TEXT NOT NULL,
        area TEXT NOT NULL,
        event TEXT NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (week, category, area, event)
    );
    CREATE TABLE throttle (
        key BLOB PRIMARY KEY,
        window INTEGER NOT NULL,
        count INTEGER NOT NULL
    );
    CREATE TABLE used_forms (
        nonce_hash BLOB PRIMARY KEY,
        expires_day INTEGER NOT NULL
    );
    """,
    # decision log (community-held keys), offers and stock: see aidnet/logstore.py
    """
    CREATE TABLE log (
        seq INTEGER PRIMARY KEY,
        record BLOB NOT NULL
    );
    CREATE TABLE proposals (
        id TEXT PRIMARY KEY,
        arrival INTEGER NOT NULL UNIQUE,
        proposal BLOB NOT NULL,
        signatures BLOB NOT NULL,
        declines BLOB NOT NULL,
        state TEXT NOT NULL
    );
    CREATE TABLE offers (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id BLOB NOT NULL UNIQUE,
        envelope BLOB NOT NULL,
        status TEXT NOT NULL,
        expires_day INTEGER NOT NULL,
        lookup_hash BLOB NOT NULL UNIQUE,
        reply_public BLOB NOT NULL
    );
    CREATE TABLE stock (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id BLOB NOT NULL UNIQUE,
        envelope BLOB NOT NULL,
        expires_day INTEGER NOT NULL
    );
    -- a key rotation waiting for quorum: new public keys (64 bytes) + the new passphrase-wrapped keys
    ALTER TABLE coordinators ADD COLUMN next_keys BLOB;
    """,
    # retention and exports: money totals, signed releases, the privacy budget ledger,
    # sealed reasons for keeping a request longer. See aidnet/exportstore.py.
    """
    CREATE TABLE money (
        week TEXT NOT NULL,
        category TEXT NOT NULL,
        direction TEXT NOT NULL,
        amount INTEGER NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (week, category, direction)
    );
    CREATE TABLE releases (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        period TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        last_week TEXT NOT NULL,
        manifest BLOB NOT NULL,
        csv BLOB NOT NULL,
        signature BLOB NOT NULL
    );
    CREATE TABLE budget (
        week TEXT NOT NULL,
        period TEXT NOT NULL,
        epsilon TEXT NOT NULL,
        PRIMARY KEY (week, period)
    );
    CREATE TABLE extensions (
        id BLOB PRIMARY KEY,
        request_id BLOB NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
        until_day INTEGER NOT NULL,
        envelope BLOB NOT NULL
    );
    CREATE INDEX extensions_by_request ON extensions(request_id);
    """,
    # the requester's answers in a conversation, sealed to the coordinators (aidnet/conversation.py);
    # after_replies places each answer after the coordinators' replies it followed.
    """
    CREATE TABLE answers (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id BLOB NOT NULL UNIQUE,
        request_id BLOB NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
        envelope BLOB NOT NULL,
        after_replies INTEGER NOT NULL
    );
    CREATE INDEX answers_by_request ON answers(request_id, seq);
    """,
    # optional TOTP second factor for coordinators (aidnet/totp.py, aidnet/factorstore.py):
    # the secret is sealed to the coordinator's own X25519 key; recovery codes are Argon2id hashes.
    """
    CREATE TABLE second_factor (
        coordinator_id INTEGER PRIMARY KEY REFERENCES coordinators(id) ON DELETE CASCADE,
        sealed_secret BLOB NOT NULL,
        last_step INTEGER NOT NULL,
        recovery_salt BLOB NOT NULL,
        recovery_params TEXT NOT NULL
    );
    CREATE TABLE recovery_codes (
        coordinator_id INTEGER NOT NULL REFERENCES coordinators(id) ON DELETE CASCADE,
        code_hash BLOB NOT NULL,
        PRIMARY KEY (coordinator_id, code_hash)
    );
    """,
    # each request counts at most once per event (so one person moves a published count by at most 1),
    # and decision notes kept apart from the log so retention can erase them with their request
    """
    ALTER TABLE requests ADD COLUMN counted INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE notes (
        proposal_id TEXT PRIMARY KEY,
        request_id BLOB REFERENCES requests(id) ON DELETE CASCADE,
        envelope BLOB NOT NULL
    );
    CREATE INDEX notes_by_request ON notes(request_id);
    """,
    # every submission writes these two: one B-tree each (WITHOUT ROWID) instead of a
    # table plus the index of its key, so fewer pages to encrypt inside the writer lock
    """
    CREATE TABLE used_forms_new (
        nonce_hash BLOB PRIMARY KEY,
        expires_day INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO used_forms_new SELECT nonce_hash, expires_day FROM used_forms;
    DROP TABLE used_forms;
    ALTER TABLE used_forms_new RENAME TO used_forms;
    CREATE TABLE counters_new (
        week TEXT NOT NULL,
        category TEXT NOT NULL,
        area TEXT NOT NULL,
        event TEXT NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (week, category, area, event)
    ) WITHOUT ROWID;
    INSERT INTO counters_new SELECT week, category, area, event, count FROM counters;
    DROP TABLE counters;
    ALTER TABLE counters_new RENAME TO counters;
    """,
]


class StorageError(Exception):
    """The database could not be opened or written (disk, key, permissions)."""


@dataclass(frozen=True)
class RequestRow:
    seq: int
    id: bytes
    envelope: bytes
    status: str
    expires_day: int
    reply_public: bytes


@dataclass(frozen=True)
class ReplyRow:
    id: bytes
    envelope: bytes


@dataclass(frozen=True)
class CoordinatorRow:
    id: int
    handle: str
    box_public: bytes
    sign_public: bytes
    wrapped_keys: bytes


@dataclass(frozen=True)
class SessionRow:
    coordinator_id: int
    wrapped_keys: bytes
    idle_until: int
    hard_until: int


_REQUEST_COLUMNS = "seq, id, envelope, status, expires_day, reply_public"


# Set once an fdatasync failed in this process: it acknowledges nothing more until restarted.
_durability_lost = False
# Called then; the server sets it to stop itself (server.py): a failing disk needs a person.
on_durability_lost: Callable[[], None] | None = None


def _lose_durability() -> None:
    global _durability_lost
    first = not _durability_lost
    _durability_lost = True
    if first and on_durability_lost is not None:
        on_durability_lost()


def durability_lost() -> bool:
    return _durability_lost


def shared_commits() -> bool:
    """False with AIDNET_GROUP_COMMIT=off: the baseline bench/ compares against (see groupcommit.py).

    Then every commit is SQLite's own synchronous=FULL commit, its fsync made
    inside COMMIT, under the writer lock, and no batching.
    """
    return os.environ.get("AIDNET_GROUP_COMMIT", "on").lower() not in ("off", "0", "no", "false")


def connect(path: Path, key: bytes) -> sqlcipher3.Connection:
    """Open the SQLCipher database with its raw key and the durability settings."""
    try:
        conn = sqlcipher3.connect(str(path), isolation_level=None, check_same_thread=False)
        # Raw key: no per-connection KDF (a passphrase key costs ~100 ms an open).
        conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
        conn.execute("PRAGMA cipher_memory_security = ON")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        conn.execute("PRAGMA journal_mode = WAL")
        # Commits reach the WAL without waiting for the disk; Store.write() then fdatasyncs
        # the WAL itself, outside the writer lock, before it returns (see the module's note).
        conn.execute("PRAGMA synchronous = " + ("NORMAL" if shared_commits() else "FULL"))
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
    """A connection plus the writer lock. One per request (or per thread)."""

    def __init__(self, path: Path, key: bytes, lock_path: Path) -> None:
        self.conn = connect(path, key)
        self.path = path
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
        self._sync_after = shared_commits()  # else SQLite's FULL commit synced it already

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
        if _durability_lost:
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
        If the disk refuses (a failing disk), StorageError, and from then on this
        process refuses every write and the server stops (_lose_durability):
        Linux reports a failed writeback once, so a later fdatasync could say
        all is well while frames before it never reached the disk.
        """
        if not self._sync_after:
            return  # the baseline: SQLite's FULL commit has synced already
        if _durability_lost:
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
            _lose_durability()
            raise StorageError("cannot make the commit durable") from None

    def migrate(self) -> int:
        """Apply pending schema migrations; returns the schema version."""
        with self.write() as tx:
            version = tx.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in script.split(";"):
                    if statement.strip():
                        tx.execute(statement)
                tx.execute(f"PRAGMA user_version = {number}")
        return len(MIGRATIONS)

    def checkpoint(self) -> bool:
        """Fold the WAL into the database and truncate it (erased pages leave every file).

        False when a reader in another connection kept it from finishing: call again.
        """
        row = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return row is None or row[0] == 0

    def integrity_ok(self) -> bool:
        result: str = self.conn.execute("PRAGMA integrity_check").fetchone()[0]
        return result == "ok"

    # requests

    def insert_request(
        self, tx: sqlcipher3.Connection, *, id: bytes, envelope: bytes, expires_day: int,
        lookup_hash: bytes, reply_public: bytes,
    ) -> None:
        tx.execute(
            "INSERT INTO requests (id, envelope, status, expires_day, lookup_hash, reply_public)"
            " VALUES (?, ?, 'new', ?, ?, ?)",
            (id, envelope, expires_day, lookup_hash, reply_public),
        )

    def request_by_lookup(self, lookup_hash: bytes) -> RequestRow | None:
        row = self.conn.execute(
            f"SELECT {_REQUEST_COLUMNS} FROM requests WHERE lookup_hash = ?",  # noqa: S608  # constant columns
            (lookup_hash,)
        ).fetchone()
        return RequestRow(*row) if row else None

    def request_by_id(self, id: bytes) -> RequestRow | None:
        row = self.conn.execute(
            f"SELECT {_REQUEST_COLUMNS} FROM requests WHERE id = ?", (id,)  # noqa: S608  # constant columns
        ).fetchone()
        return RequestRow(*row) if row else None

    def requests_page(self, offset: int, limit: int) -> list[RequestRow]:
        rows = self.conn.execute(
            f"SELECT {_REQUEST_COLUMNS} FROM requests ORDER BY seq DESC LIMIT ? OFFSET ?",  # noqa: S608  # constant columns
            (limit, offset)
        ).fetchall()
        return [RequestRow(*r) for r in rows]

    def request_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM requests").fetchone()[0])

    def set_status(self, tx: sqlcipher3.Connection, id: bytes, status: str) -> None:
        tx.execute("UPDATE requests SET status = ? WHERE id = ?", (status, id))

    # Bits of requests.counted: which events this request has already added to the counters.
    EVENT_BITS = {"in_progress": 1, "allocated": 2, "fulfilled": 4, "closed": 8, "distributed": 16}

    def count_once(self, tx: sqlcipher3.Connection, id: bytes, event: str) -> bool:
        """Mark event as counted for this request; False if it already was (then do not bump)."""
        bit = self.EVENT_BITS[event]
        cur = tx.execute("UPDATE requests SET counted = counted | ? WHERE id = ? AND counted & ? = 0", (bit, id, bit))
        return bool(cur.rowcount == 1)

    def keep_at_least(self, tx: sqlcipher3.Connection, id: bytes, until_day: int) -> None:
        """A reopened request lives at least until until_day again (retention may have shortened it)."""
        tx.execute("UPDATE requests SET expires_day = max(expires_day, ?) WHERE id = ?", (until_day, id))

    def insert_reply(self, tx: sqlcipher3.Connection, *, id: bytes, request_id: bytes, envelope: bytes) -> None:
        tx.execute("INSERT INTO replies (id, request_id, envelope) VALUES (?, ?, ?)", (id, request_id, envelope))

    def replies_for(self, request_id: bytes) -> list[ReplyRow]:
        rows = self.conn.execute(
            "SELECT id, envelope FROM replies WHERE request_id = ? ORDER BY seq", (request_id,)
        ).fetchall()
        return [ReplyRow(*r) for r in rows]

    # the requester's side of a conversation, and erasure (aidnet/conversation.py)

    def insert_answer(
        self, tx: sqlcipher3.Connection, *, id: bytes, request_id: bytes, envelope: bytes, after_replies: int
    ) -> None:
        tx.execute("INSERT INTO answers (id, request_id, envelope, after_replies) VALUES (?, ?, ?, ?)",
                   (id, request_id, envelope, after_replies))

    def answers_for(self, request_id: bytes) -> list[tuple[bytes, bytes, int]]:
        """(id, envelope, after_replies) of each answer, oldest first."""
        rows = self.conn.execute(
            "SELECT id, envelope, after_replies FROM answers WHERE request_id = ? ORDER BY seq", (request_id,)
        ).fetchall()
        return [(r[0], r[1], int(r[2])) for r in rows]

    def erase_request(self, tx: sqlcipher3.Connection, id: bytes) -> bool:
        """Delete a request with everything sealed for it; secure_delete zeroes the freed pages."""
        for table in ("answers", "replies"):
            tx.execute(f"DELETE FROM {table} WHERE request_id = ?", (id,))  # noqa: S608  # constant table names
        return bool(tx.execute("DELETE FROM requests WHERE id = ?", (id,)).rowcount == 1)

    def bump_counter(self, tx: sqlcipher3.Connection, week: str, category: str, area: str, event: str) -> None:
        tx.execute(
            "INSERT INTO counters (week, category, area, event, count) VALUES (?, ?, ?, ?, 1)"
            " ON CONFLICT (week, category, area, event) DO UPDATE SET count = count + 1",
            (week, category, area, event),
        )

    def counters(self) -> list[tuple[str, str, str, str, int]]:
        return [tuple(r) for r in self.conn.execute(
            "SELECT week, category, area, event, count FROM counters ORDER BY 1, 2, 3, 4"
        )]

    def use_form_nonce(self, tx: sqlcipher3.Connection, nonce_hash: bytes, expires_day: int) -> bool:
        """Record a form as sent; False if it was sent before (a replay)."""
        cur = tx.execute(
            "INSERT OR IGNORE INTO used_forms (nonce_hash, expires_day) VALUES (?, ?)", (nonce_hash, expires_day)
        )
        return bool(cur.rowcount == 1)

    # coordinators and sessions

    def insert_coordinator(
        self, tx: sqlcipher3.Connection, handle: str, box_public: bytes, sign_public: bytes, wrapped: bytes
    ) -> None:
        tx.execute(
            "INSERT INTO coordinators (handle, box_public, sign_public, wrapped_keys) VALUES (?, ?, ?, ?)",
            (handle, box_public, sign_public, wrapped),
        )

    def coordinator_by_handle(self, handle: str) -> CoordinatorRow | None:
        row = self.conn.execute(
            "SELECT id, handle, box_public, sign_public, wrapped_keys FROM coordinators WHERE handle = ?", (handle,)
        ).fetchone()
        return CoordinatorRow(*row) if row else None

    def coordinator_by_id(self, id: int) -> CoordinatorRow | None:
        row = self.conn.execute(
            "SELECT id, handle, box_public, sign_public, wrapped_keys FROM coordinators WHERE id = ?", (id,)
        ).fetchone()
        return CoordinatorRow(*row) if row else None

    def coordinator_box_keys(self) -> list[bytes]:
        return [r[0] for r in self.conn.execute("SELECT box_public FROM coordinators ORDER BY id")]

    def insert_session(
        self, tx: sqlcipher3.Connection, token_hash: bytes, coordinator_id: int, wrapped: bytes,
        idle_until: int, hard_until: int,
    ) -> None:
        tx.execute(
            "INSERT INTO sessions (token_hash, coordinator_id, wrapped_keys, idle_until, hard_until)"
            " VALUES (?, ?, ?, ?, ?)",
            (token_hash, coordinator_id, wrapped, idle_until, hard_until),
        )

    def session(self, token_hash: bytes) -> SessionRow | None:
        row = self.conn.execute(
            "SELECT coordinator_id, wrapped_keys, idle_until, hard_until FROM sessions WHERE token_hash = ?",
            (token_hash,),
        ).fetchone()
        return SessionRow(*row) if row else None

    def touch_session(self, tx: sqlcipher3.Connection, token_hash: bytes, idle_until: int) -> None:
        tx.execute("UPDATE sessions SET idle_until = ? WHERE token_hash = ?", (idle_until, token_hash))

    def delete_session(self, tx: sqlcipher3.Connection, token_hash: bytes) -> None:
        tx.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    def delete_expired_sessions(self, tx: sqlcipher3.Connection, now: int) -> None:
        tx.execute("DELETE FROM sessions WHERE idle_until < ? OR hard_until < ?", (now, now))

    # throttle

    def throttle_hit(self, tx: sqlcipher3.Connection, key: bytes, window: int) -> int:
        """Count one attempt under key in this window; returns the count so far."""
        tx.execute("DELETE FROM throttle WHERE window < ?", (window,))
        tx.execute(
            "INSERT INTO throttle (key, window, count) VALUES (?, ?, 1)"
            " ON CONFLICT (key) DO UPDATE SET count = count + 1",
            (key, window),
        )
        return int(tx.execute("SELECT count FROM throttle WHERE key = ?", (key,)).fetchone()[0])

    def throttle_release(self, tx: sqlcipher3.Connection, key: bytes) -> None:
        """Give back one reserved attempt (the login succeeded)."""
        tx.execute("UPDATE throttle SET count = max(count - 1, 0) WHERE key = ?", (key,))

    def throttle_count(self, key: bytes, window: int) -> int:
        row = self.conn.execute("SELECT count FROM throttle WHERE key = ? AND window = ?", (key, window)).fetchone()
        return int(row[0]) if row else 0
