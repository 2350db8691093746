"""SQL for coordinator accounts, their sessions, and the login throttle.

An account row is trusted for nothing about who reads: the readers come from
the verified decision log (aidnet.sealing.readers). It holds the handle, the
public keys, the keys wrapped under the passphrase, and (while a rotation
waits for its quorum) the next keys.
"""

from __future__ import annotations

from dataclasses import dataclass

from .connection import Store, Tx


@dataclass(frozen=True)
class CoordinatorRow:
    id: int
    handle: str
    box_public: bytes
    sign_public: bytes
    wrapped_keys: bytes
    card_sig: str | None = None  # the account's self-signed member card (crypto.cards); None until made
    language: str | None = None  # the language this coordinator reads the pages in (None: English)


@dataclass(frozen=True)
class SessionRow:
    coordinator_id: int
    wrapped_keys: bytes
    idle_until: int
    hard_until: int


_COLUMNS = "id, handle, box_public, sign_public, wrapped_keys, card_sig, language"


def insert_coordinator(tx: Tx, handle: str, box_public: bytes, sign_public: bytes, wrapped: bytes,
                       card_sig: str | None = None) -> None:
    tx.execute(
        "INSERT INTO coordinators (handle, box_public, sign_public, wrapped_keys, card_sig) VALUES (?, ?, ?, ?, ?)",
        (handle, box_public, sign_public, wrapped, card_sig),
    )


def set_card_sig(tx: Tx, id: int, card_sig: str) -> None:
    tx.execute("UPDATE coordinators SET card_sig = ? WHERE id = ?", (card_sig, id))


def last_seen(store: Store, id: int) -> int:
    """The newest request seq this coordinator's inbox showed them last time (0: never)."""
    row = store.conn.execute("SELECT last_seen_seq FROM coordinators WHERE id = ?", (id,)).fetchone()
    return int(row[0]) if row else 0


def set_last_seen(tx: Tx, id: int, seq: int) -> None:
    tx.execute("UPDATE coordinators SET last_seen_seq = max(last_seen_seq, ?) WHERE id = ?", (seq, id))


def set_language(tx: Tx, id: int, language: str) -> None:
    tx.execute("UPDATE coordinators SET language = ? WHERE id = ?", (language, id))


def by_handle(store: Store, handle: str) -> CoordinatorRow | None:
    row = store.conn.execute(
        f"SELECT {_COLUMNS} FROM coordinators WHERE handle = ?", (handle,)  # noqa: S608  # constant columns
    ).fetchone()
    return CoordinatorRow(*row) if row else None


def by_id(store: Store, id: int) -> CoordinatorRow | None:
    row = store.conn.execute(
        f"SELECT {_COLUMNS} FROM coordinators WHERE id = ?", (id,)  # noqa: S608  # constant columns
    ).fetchone()
    return CoordinatorRow(*row) if row else None


def all_accounts(store: Store) -> list[CoordinatorRow]:
    """Every account, in the order they were added."""
    return [CoordinatorRow(*r) for r in store.conn.execute(
        f"SELECT {_COLUMNS} FROM coordinators ORDER BY id"  # noqa: S608  # constant columns
    )]


def box_keys(store: Store) -> list[bytes]:
    return [r[0] for r in store.conn.execute("SELECT box_public FROM coordinators ORDER BY id")]


def set_next_keys(tx: Tx, id: int, next_keys: bytes) -> None:
    """Keep an account's new keys aside (public keys, then the passphrase-wrapped secrets) until a rotation is final."""
    tx.execute("UPDATE coordinators SET next_keys = ? WHERE id = ?", (next_keys, id))


def adopt_next_keys(tx: Tx, old_sign: bytes, new_public: bytes, card_sig: str | None) -> None:
    """The account whose keys were old_sign takes the next keys kept aside, if they are new_public (box + sign)."""
    for account_id, next_keys in tx.execute(
        "SELECT id, next_keys FROM coordinators WHERE sign_public = ? AND next_keys IS NOT NULL", (old_sign,)
    ).fetchall():
        if next_keys[:64] == new_public:
            tx.execute("UPDATE coordinators SET box_public = ?, sign_public = ?, wrapped_keys = ?, next_keys = NULL,"
                       " card_sig = ? WHERE id = ?", (new_public[:32], new_public[32:], next_keys[64:], card_sig,
                                                     account_id))


def next_keys(store: Store, id: int) -> bytes | None:
    """The keys an account keeps aside while its rotation waits (public keys, then the wrapped secrets), or None."""
    row = store.conn.execute("SELECT next_keys FROM coordinators WHERE id = ?", (id,)).fetchone()
    return bytes(row[0]) if row and row[0] is not None else None


def set_wrapped_keys(tx: Tx, id: int, before: bytes, wrapped: bytes, next_keys: bytes | None) -> bool:
    """The account's keys (and its next keys, if a rotation waits) wrapped anew: a new passphrase.

    Only if the keys are still the ones wrapped in before (a rotation made final meanwhile must not
    be undone); returns whether they were.
    """
    changed = tx.execute("UPDATE coordinators SET wrapped_keys = ?, next_keys = ? WHERE id = ? AND wrapped_keys = ?",
                         (wrapped, next_keys, id, before)).rowcount
    return int(changed) == 1


def delete_sessions_of(tx: Tx, coordinator_id: int, keep_token_hash: bytes = b"") -> int:
    """End every session of an account but the one keep_token_hash names; returns how many ended."""
    return int(tx.execute("DELETE FROM sessions WHERE coordinator_id = ? AND token_hash != ?",
                          (coordinator_id, keep_token_hash)).rowcount)


def insert_session(tx: Tx, token_hash: bytes, coordinator_id: int, wrapped: bytes, idle_until: int,
                   hard_until: int) -> None:
    tx.execute(
        "INSERT INTO sessions (token_hash, coordinator_id, wrapped_keys, idle_until, hard_until)"
        " VALUES (?, ?, ?, ?, ?)",
        (token_hash, coordinator_id, wrapped, idle_until, hard_until),
    )


def session(store: Store, token_hash: bytes) -> SessionRow | None:
    row = store.conn.execute(
        "SELECT coordinator_id, wrapped_keys, idle_until, hard_until FROM sessions WHERE token_hash = ?",
        (token_hash,),
    ).fetchone()
    return SessionRow(*row) if row else None


def touch_session(tx: Tx, token_hash: bytes, idle_until: int) -> None:
    tx.execute("UPDATE sessions SET idle_until = ? WHERE token_hash = ?", (idle_until, token_hash))


def delete_session(tx: Tx, token_hash: bytes) -> None:
    tx.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))


def delete_expired_sessions(tx: Tx, now: int) -> int:
    return int(tx.execute("DELETE FROM sessions WHERE idle_until < ? OR hard_until < ?", (now, now)).rowcount)


def throttle_hit(tx: Tx, key: bytes, window: int) -> int:
    """Count one attempt under key in this window; returns the count so far."""
    tx.execute("DELETE FROM throttle WHERE window < ?", (window,))
    tx.execute(
        "INSERT INTO throttle (key, window, count) VALUES (?, ?, 1)"
        " ON CONFLICT (key) DO UPDATE SET count = count + 1",
        (key, window),
    )
    return int(tx.execute("SELECT count FROM throttle WHERE key = ?", (key,)).fetchone()[0])


def throttle_release(tx: Tx, key: bytes) -> None:
    """Give back one reserved attempt (the login succeeded)."""
    tx.execute("UPDATE throttle SET count = max(count - 1, 0) WHERE key = ?", (key,))


def throttle_count(store: Store, key: bytes, window: int) -> int:
    row = store.conn.execute("SELECT count FROM throttle WHERE key = ? AND window = ?", (key, window)).fetchone()
    return int(row[0]) if row else 0
