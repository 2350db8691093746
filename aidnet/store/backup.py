"""Encrypted backups, restore, and rotation of the database key.

This is the store's module for whole-database copies. A backup is one
SQLCipher file, its tables copied one by one inside one read transaction (so
it can say how far it has got): a consistent snapshot taken while the server
keeps serving (WAL lets writers go on; the snapshot does not see them). It is
encrypted under its own random 256-bit backup key (backup.key), not db.key,
so it can be kept off the machine; it also carries config.toml and
secrets.toml, without which no codename would work after a restore. Sealed
content inside stays sealed to the coordinators' keys either way. The backup
key is never kept in the instance folder or beside the backups (key_place_problem):
whoever holds a backup and its key holds the database as it was.

Old backups are deleted by prune_backups: only files named *.aidbk that open
under the backup key as this format, and whose day (kept inside, or the file's
own day for backups made before that) is older than the days to keep.

Every file is written beside its final name and renamed into place after an
fsync: a crash leaves either the old file or the whole new one.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import sqlcipher3

from ..config import (
    CONFIG_FILE,
    DATABASE_FILE,
    EXPORT_KEY_FILE,
    HEAD_FILE,
    KEY_FILE,
    LOCK_FILE,
    PID_FILE,
    PIN_FILE,
    RESTORE_MARKER,
    SECRETS_FILE,
    Settings,
    load_settings,
)
from .connection import StorageError, connect, fsync_path, open_store

FORMAT = "aidnet-backup-1"
# What a backup file's name ends with: the only files prune_backups ever looks at.
SUFFIX = ".aidbk"
_META = "aidnet_backup"
# The day (days since 1970, ASCII) the snapshot was taken, in the meta table; older backups lack it.
MADE_DAY = "made_day"
# SQLite's transfer takes about this many steps a row for a table and for each of its indexes (measured:
# 12 for requests and its two unique indexes); the progress handler is called every TRANSFER_STEPS.
STEPS_A_ROW = 4
TRANSFER_STEPS = 20_000
TRANSFER_REPORT_ROWS = 1000  # smaller tables are reported when done, not along the way
Progress = Callable[[int, int], None]  # (rows copied, rows in all)
_CREATE = re.compile(r"^\s*CREATE\s+(UNIQUE\s+)?(TABLE|INDEX)\s+", re.IGNORECASE)


class BackupError(StorageError):
    """A backup, restore or rekey cannot go on; the message is one line, with no content."""


def _fsync(path: Path) -> None:
    """Make a file's content, or a folder's list of names, durable."""
    fsync_path(path)


def _write_private_atomic(path: Path, data: bytes) -> None:
    part = path.with_name(path.name + ".part")
    part.unlink(missing_ok=True)
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(part, path)
    _fsync(path.parent)


def _read_hex_key(path: Path) -> bytes:
    try:
        raw = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError, UnicodeDecodeError):
        raise BackupError(f"cannot read a key from {path}") from None
    if len(raw) != 32:
        raise BackupError(f"{path} must hold a 32-byte key in hex")
    return raw


def backup_key(path: Path, create: bool) -> tuple[bytes, bool]:
    """The backup key in path; made (0600) when missing and create is set. Returns (key, made)."""
    if path.exists() or not create:
        return _read_hex_key(path), False
    key = secrets.token_bytes(32)
    _write_private_atomic(path, (key.hex() + "\n").encode("ascii"))
    return key, True


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def key_place_problem(key_path: Path, instance: Path, backups: Path) -> str | None:
    """Why the backup key must not be kept at key_path, or None.

    Not in the instance folder: a thief of the disk would find it beside the database and its
    secrets. Not in the folder the backups are written to: a copy of that folder would be a
    backup and its key together.
    """
    if _inside(key_path, instance):
        return f"the backup key must not be kept in the instance folder {instance}"
    if key_path.resolve().parent == backups.resolve():
        return f"the backup key must not be kept beside the backups in {backups}"
    return None


def write_backup(settings: Settings, dest: Path, key: bytes, progress: Progress | None = None,
                 made_day: int | None = None) -> int:
    """Write an encrypted snapshot of the instance to dest (refuses to overwrite). Returns the schema version.

    made_day (default today) is kept inside the backup: prune_backups ages the file by it.
    """
    day = int(time.time() // 86400) if made_day is None else made_day
    return _write_backup(settings, dest, key, progress, day)


def server_running(instance: Path) -> bool:
    """True if an `aidnet serve` for this instance is alive (its pid file names a live aidnet process)."""
    try:
        pid = int((instance / PID_FILE).read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return False
    return b"aidnet" in cmdline or b"gunicorn" in cmdline


def _key_clause(key: bytes) -> str:
    return f"x'{key.hex()}'"


OPTIONAL_FILES = (PIN_FILE, HEAD_FILE, EXPORT_KEY_FILE)


def row_counts(conn: sqlcipher3.Connection) -> dict[str, int]:
    """How many rows each table holds, for a copy's "n of N" (taken on a connection of its own: see _copy_database)."""
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    return {name: int(conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]) for name in names}  # noqa: S608  # names from the schema


def _parents_first(conn: sqlcipher3.Connection, tables: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The tables in the order they were made, except that each comes after every table its foreign keys name.

    A column added later may point at a table made after its own (requests.handler at coordinators): rows
    copied in the order of making would reach the child before its parent, and the foreign key refuses them.
    """
    names = {name for name, _sql in tables}
    parents = {name: {str(fk[2]) for fk in conn.execute(f'PRAGMA main.foreign_key_list("{name}")')} & names - {name}
               for name, _sql in tables}
    ordered: list[tuple[str, str]] = []
    placed: set[str] = set()
    while len(ordered) < len(tables):
        ready = [(n, q) for n, q in tables if n not in placed and parents[n] <= placed]
        if not ready:
            raise BackupError("the database's foreign keys go round in a circle: a backup cannot order its tables")
        ordered.append(ready[0])
        placed.add(ready[0][0])
    return ordered


def _copy_database(conn: sqlcipher3.Connection, target: str, progress: Progress | None, counts: dict[str, int],
                   skip: tuple[str, ...] = ()) -> None:
    """Copy every table and index of main into the attached database `target`, inside the caller's transaction.

    What sqlcipher_export does, table by table so a long copy can say how far it has got: the tables as
    declared, then their indexes, then each table's rows in one INSERT ... SELECT * (SQLite's transfer
    optimization copies the b-trees as they are, as fast as sqlcipher_export), then AUTOINCREMENT's
    counters. Within a table, how far the copy is comes from SQLite's progress handler: the transfer takes
    a fixed number of steps a row for the table and each of its indexes, so steps give rows (an estimate,
    never above the table's count; each table's end is exact).

    counts (from row_counts) only size the progress: they are counted on another connection, because a
    count on this one, before the transfer, made the transfer twice as slow (measured, bench/).
    """
    objects = [(kind, name, table, sql) for kind, name, table, sql in conn.execute(
        "SELECT type, name, tbl_name, sql FROM main.sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY rowid")
        if table not in skip]
    if any(kind not in ("table", "index") or sql is None and kind == "table" or sql and not _CREATE.match(sql)
           for kind, _name, _table, sql in objects):
        raise BackupError("the database holds a kind of object a backup does not copy")
    tables = _parents_first(conn, [(name, sql) for kind, name, _table, sql in objects if kind == "table"])
    counts = {name: counts.get(name, 0) for name, _sql in tables}
    trees = {name: 1 + sum(1 for kind, _n, table, _s in objects if kind == "index" and table == name)
             for name, _sql in tables}
    for kind in ("table", "index"):  # indexes before rows, as sqlcipher_export: the transfer copies them too
        for object_kind, _name, _table, sql in objects:
            if object_kind == kind and sql:
                conn.execute(_CREATE.sub(lambda m: m.group(0) + f"{target}.", sql, count=1))
    total, done = sum(counts.values()), 0
    for name, _sql in tables:
        if progress is not None and counts[name] > TRANSFER_REPORT_ROWS:
            conn.set_progress_handler(_transfer_reporter(progress, done, counts[name], trees[name], total),
                                      TRANSFER_STEPS)
        try:
            copied = conn.execute(f'INSERT INTO {target}."{name}" SELECT * FROM main."{name}"').rowcount  # noqa: S608  # names from the schema
        finally:
            conn.set_progress_handler(None, 0)
        done += max(copied, 0)
        total = max(total, done + sum(counts[later] for later, _sql in tables[tables.index((name, _sql)) + 1:]))
        if progress is not None:
            progress(done, total)
    if any("AUTOINCREMENT" in sql.upper() for _name, sql in tables):
        conn.execute(f"DELETE FROM {target}.sqlite_sequence")  # noqa: S608
        conn.execute(f"INSERT INTO {target}.sqlite_sequence SELECT * FROM main.sqlite_sequence")  # noqa: S608


def _transfer_reporter(progress: Progress, before: int, rows: int, trees: int, total: int) -> Callable[[], int]:
    """A progress handler for one table's transfer: steps so far, as rows, added to the rows copied before it."""
    steps = 0

    def report() -> int:
        nonlocal steps
        steps += TRANSFER_STEPS
        progress(before + min(rows, steps // (STEPS_A_ROW * trees)), total)
        return 0  # go on
    return report


def _write_backup(settings: Settings, dest: Path, key: bytes, progress: Progress | None, day: int) -> int:
    if dest.exists():
        raise BackupError(f"{dest} exists; not overwriting it")
    part = dest.with_name(dest.name + ".part")
    part.unlink(missing_ok=True)
    try:
        extras = {name: (settings.instance / name).read_bytes() for name in (CONFIG_FILE, SECRETS_FILE)}
        # The genesis pin and the export signing key, when the instance has them: without them a
        # restored instance would stop checking its log's genesis and sign exports with a new key.
        extras.update({name: (settings.instance / name).read_bytes() for name in OPTIONAL_FILES
                       if (settings.instance / name).is_file()})
    except OSError:
        raise BackupError("cannot read the instance's config and secrets") from None
    counter = connect(settings.database, settings.db_key, settings.group_commit)
    try:
        counts = row_counts(counter)
    finally:
        counter.close()
    conn = connect(settings.database, settings.db_key, settings.group_commit)
    try:
        conn.execute("ATTACH DATABASE ? AS backup KEY ?", (str(part), _key_clause(key)))
        conn.execute("BEGIN")
        # The first read fixes the snapshot: everything below sees the same moment.
        version = int(conn.execute("PRAGMA main.user_version").fetchone()[0])
        _copy_database(conn, "backup", progress, counts)
        conn.execute(f"PRAGMA backup.user_version = {version}")
        conn.execute(f"CREATE TABLE backup.{_META} (name TEXT PRIMARY KEY, value BLOB NOT NULL)")
        rows = [("format", FORMAT.encode()), (MADE_DAY, str(day).encode("ascii")), *extras.items()]
        conn.executemany(f"INSERT INTO backup.{_META} (name, value) VALUES (?, ?)", rows)  # noqa: S608  # constant name
        conn.execute("COMMIT")
        conn.execute("DETACH DATABASE backup")
    except sqlcipher3.Error:
        part.unlink(missing_ok=True)
        raise BackupError("the snapshot could not be written (disk full or not writable?)") from None
    finally:
        conn.close()
    _fsync(part)
    os.replace(part, dest)
    _fsync(dest.parent)
    return version


def _open_backup(src: Path, key: bytes) -> tuple[sqlcipher3.Connection, dict[str, bytes]]:
    if not src.is_file():
        raise BackupError(f"no backup at {src}")
    try:
        uri = f"file:{quote(str(src.resolve()))}?mode=ro"
        conn = sqlcipher3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        # A wrong key is an expected answer here, not something for SQLCipher to print to stderr.
        conn.execute("PRAGMA cipher_log_level = NONE")
        conn.execute(f"PRAGMA key = \"{_key_clause(key)}\"")
        conn.execute("PRAGMA temp_store = MEMORY")
        meta = {str(n): bytes(v) for n, v in conn.execute(f"SELECT name, value FROM {_META}")}  # noqa: S608
    except sqlcipher3.Error:
        raise BackupError("not an aidnet backup, or the wrong backup key") from None
    if meta.get("format") != FORMAT.encode():
        conn.close()
        raise BackupError("unsupported backup format")
    return conn, meta


@dataclass(frozen=True)
class Pruned:
    """What prune_backups did: the backups deleted (name, day made), and *.aidbk files it left alone."""

    deleted: list[tuple[Path, int]]
    not_opened: list[Path]


def backup_day(path: Path, key: bytes) -> int | None:
    """The day an aidnet backup at path was made, or None if it is not one this key opens."""
    try:
        conn, meta = _open_backup(path, key)
    except BackupError:
        return None
    conn.close()
    try:
        return int(meta[MADE_DAY].decode("ascii"))
    except (KeyError, ValueError, UnicodeDecodeError):
        return int(path.stat().st_mtime // 86400)  # made before the day was kept inside: the file's own day


def prune_backups(folder: Path, key: bytes, keep_days: int, today: int, spare: Path | None = None) -> Pruned:
    """Delete the aidnet backups in folder made more than keep_days before today.

    Only files named *.aidbk that open under key as an aidnet backup are ever deleted; anything
    else (another program's files, a backup under another key) is left, and the latter listed.
    spare (the backup just written) is never deleted.
    """
    deleted: list[tuple[Path, int]] = []
    not_opened: list[Path] = []
    for path in sorted(folder.glob("*" + SUFFIX)):
        if not path.is_file() or path.is_symlink() or (spare is not None and path.resolve() == spare.resolve()):
            continue
        day = backup_day(path, key)
        if day is None:
            not_opened.append(path)
        elif day < today - keep_days:
            path.unlink()
            deleted.append((path, day))
    if deleted:
        _fsync(folder)
    return Pruned(deleted, not_opened)


def _remove_sidecars(database: Path) -> None:
    # A stale WAL belongs to the file it was written for: it must never meet a replaced one.
    for suffix in ("-wal", "-shm", "-journal"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)


def export_into(conn: sqlcipher3.Connection, dest: Path, key: bytes, drop_meta: bool,
                progress: Progress | None = None, counts: dict[str, int] | None = None) -> None:
    """A new database at dest, under key, with everything conn's main database holds (the meta table dropped if asked)."""
    dest.unlink(missing_ok=True)
    conn.execute("ATTACH DATABASE ? AS target KEY ?", (str(dest), _key_clause(key)))
    conn.execute("PRAGMA target.secure_delete = ON")
    conn.execute("BEGIN")
    version = int(conn.execute("PRAGMA main.user_version").fetchone()[0])
    _copy_database(conn, "target", progress, counts or {}, skip=(_META,) if drop_meta else ())
    conn.execute(f"PRAGMA target.user_version = {version}")
    conn.execute("COMMIT")
    conn.execute("DETACH DATABASE target")
    _fsync(dest)


def restore_backup(src: Path, key: bytes, instance: Path, replace: bool, progress: Progress | None = None) -> Settings:
    """Bring a backup back into instance (a new folder, or an existing one with replace).

    Under the writer lock and a marker file (restore.pending) that stops
    anything from loading the instance, every file is first written beside its
    place (NAME.restore) and synced, then renamed into place; the marker goes
    last. A restore that fails cleanly leaves the instance as it was; one cut
    off (killed, power lost) leaves the marker, and running the same restore
    again finishes it. Staged files exist only while the marker does.
    """
    existing = (instance / CONFIG_FILE).exists()
    if existing and (instance / DATABASE_FILE).exists() and not replace:
        raise BackupError(f"{instance} already has a database; add --replace to overwrite it")
    if server_running(instance):
        raise BackupError("the server for this instance is running; stop it first")
    conn, meta = _open_backup(src, key)
    counter, _meta = _open_backup(src, key)
    try:
        counts = row_counts(counter)
    finally:
        counter.close()
    marker = instance / RESTORE_MARKER
    staged: list[tuple[Path, Path]] = []  # (written beside, its place)
    database = instance / DATABASE_FILE

    def stage(name: str, data: bytes) -> None:
        beside = instance / (name + ".restore")
        _write_private_atomic(beside, data)
        staged.append((beside, instance / name))

    try:
        instance.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(instance / LOCK_FILE, "a+b") as lock:
            # No write (a server started meanwhile, a timer) runs across the swap.
            fcntl.flock(lock, fcntl.LOCK_EX)
            if server_running(instance):
                raise BackupError("the server for this instance is running; stop it first")
            _write_private_atomic(marker, b"aidnet restore in progress\n")
            for stale in instance.glob("*.restore"):  # left by a restore cut off before
                stale.unlink()
            try:
                if not existing:
                    stage(CONFIG_FILE, meta[CONFIG_FILE])
                # The secrets must be the backup's: its codenames were derived with them.
                stage(SECRETS_FILE, meta[SECRETS_FILE])
                for name in OPTIONAL_FILES:
                    if name in meta:
                        stage(name, meta[name])
                if not (instance / KEY_FILE).exists():  # a fresh key opens nothing yet: written in place
                    _write_private_atomic(instance / KEY_FILE, (secrets.token_hex(32) + "\n").encode("ascii"))
                beside = instance / (DATABASE_FILE + ".restore")
                try:
                    export_into(conn, beside, _read_hex_key(instance / KEY_FILE), True, progress, counts)
                except sqlcipher3.Error:
                    raise BackupError("the restored database could not be written") from None
                staged.append((beside, database))
            except Exception:
                # A clean failure while staging: the instance is as it was.
                for stale in instance.glob("*.restore"):
                    stale.unlink()
                marker.unlink(missing_ok=True)
                _fsync(instance)
                raise
            for beside, place in staged:
                if place == database:
                    _remove_sidecars(database)  # a stale WAL must never meet the new file
                os.replace(beside, place)
            _fsync(instance)
            marker.unlink()
            _fsync(instance)
    finally:
        conn.close()
    settings = load_settings(instance)
    with open_store(settings) as store:
        store.migrate()
        if not store.integrity_ok():
            raise BackupError("the restored database fails its integrity check")
    return settings


def _opens_with(database: Path, key: bytes) -> bool:
    try:
        conn = sqlcipher3.connect(str(database), isolation_level=None)
    except sqlcipher3.Error:
        return False
    try:
        conn.execute("PRAGMA cipher_log_level = NONE")
        conn.execute(f"PRAGMA key = \"{_key_clause(key)}\"")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return True
    except sqlcipher3.Error:
        return False
    finally:
        conn.close()


def rekey(settings: Settings, progress: Progress | None = None) -> bool:
    """Re-encrypt the database under a fresh db.key. Returns True if it finished an interrupted rekey.

    Order, so that a crash at any step leaves a database and a key that open it:
    new key to db.key.next; copy to aidnet.db.next; rename the copy over the
    database; rename the key over db.key. A rerun finishes a half-done one.
    """
    instance = settings.instance
    if server_running(instance):
        raise BackupError("the server for this instance is running; stop it first")
    next_key_path = instance / (KEY_FILE + ".next")
    staged = instance / (DATABASE_FILE + ".next")
    if next_key_path.exists():
        if _opens_with(settings.database, _read_hex_key(next_key_path)):
            os.replace(next_key_path, instance / KEY_FILE)
            _fsync(instance)
            return True
        # The database still opens with the old key: the copy never replaced it.
        next_key_path.unlink()
        staged.unlink(missing_ok=True)
    new_key = secrets.token_bytes(32)
    _write_private_atomic(next_key_path, (new_key.hex() + "\n").encode("ascii"))
    store = open_store(settings)
    # The writer lock is held from the copy to the swap: no other process (a timer, a command)
    # can commit to the old file meanwhile; after the swap, their Store.write() sees a new file and refuses.
    with open(settings.lock_file, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            store.checkpoint()
            with open_store(settings) as counter:  # counted apart: see _copy_database
                counts = row_counts(counter.conn)
            export_into(store.conn, staged, new_key, False, progress, counts)
        except sqlcipher3.Error:
            staged.unlink(missing_ok=True)
            next_key_path.unlink(missing_ok=True)
            raise BackupError("the re-encrypted copy could not be written") from None
        finally:
            store.close()
        _remove_sidecars(settings.database)
        os.replace(staged, settings.database)
        _fsync(instance)
    os.replace(next_key_path, instance / KEY_FILE)
    _fsync(instance)
    return False
