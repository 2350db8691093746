"""Coordinator accounts and sessions.

The private keys rest wrapped under the passphrase (Argon2id). At login they
are re-wrapped under a random session key that goes only into the
coordinator's cookie; the server keeps the re-wrapped blob with an expiry.
A stolen database lacks the cookie half; a stolen cookie lacks the blob.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

import crypto
from crypto import KeyPair
from crypto.cards import make_card
from crypto.keys import MAX_PASSPHRASE_BYTES, normalize_passphrase

from ..config import Settings
from ..errors import Refused
from ..sealing import periods
from ..store import StorageError, Store
from ..store import accounts as account_rows
from ..store.accounts import CoordinatorRow
from . import totp

TOKEN_SIZE = 32
HANDLE_MAX = 40
# Wrong passphrases: at most this many per handle, and in all, per window.
THROTTLE_WINDOW_SECONDS = 900
THROTTLE_PER_HANDLE = 5
THROTTLE_GLOBAL = 100
# Beyond either limit, an existing handle still has this many attempts checked each minute, so
# guesses by others cannot lock its owner out; Argon2 work stays bounded by (accounts x this)
# a minute, because attempts at unknown handles are then refused without any Argon2 at all.
THROTTLED_CHECKS_PER_MINUTE = 2
# The shortest passphrase that may protect a coordinator's keys.
MIN_PASSPHRASE = 12


class LoginFailed(Refused):
    """Unknown handle or wrong passphrase: one error, so neither is revealed."""

    reason = "that handle and passphrase do not match"


class Throttled(Refused):
    """Too many failed logins recently, and this attempt was not checked (or was checked and wrong)."""

    reason = "too many wrong attempts; wait a minute"


class HandleTaken(Refused):
    """An account with this handle exists already."""

    reason = "a coordinator with that handle already exists"


class BadHandle(Refused):
    """A handle must be letters, digits, - or _, at most 40."""

    reason = "handle must be letters, digits, - or _ (at most 40)"


class WrongPassphrase(Refused):
    """The current passphrase typed to change it does not open the keys."""

    reason = "that is not your current passphrase"


class WeakPassphrase(Refused):
    """A new passphrase must be long enough, and not the current one."""

    reason = f"the new passphrase must be at least {MIN_PASSPHRASE} characters and differ from the current one"


class KeysChanged(Refused):
    """The account's keys changed (a rotation became final) while its passphrase was being changed."""

    reason = "your keys changed meanwhile (a key rotation became final); change the passphrase again"


class PassphraseTooLong(WeakPassphrase):
    """A new passphrase longer than the key wrapping takes (in UTF-8)."""

    reason = f"the new passphrase must be at most {MAX_PASSPHRASE_BYTES} bytes"


@dataclass(frozen=True, repr=False)
class Session:
    coordinator: CoordinatorRow
    keys: KeyPair

    def __repr__(self) -> str:
        return f"Session({self.coordinator.handle})"

    @property
    def fingerprint(self) -> str:
        """This coordinator's card, from the keys their passphrase opened: to read out to the other keyholders."""
        return crypto.cards.fingerprint(self.coordinator.handle, self.keys.box_public.hex(), self.keys.sign_public.hex())


def _hash(data: bytes, purpose: bytes) -> bytes:
    return crypto.blake2b(data, purpose)


def valid_handle(handle: str) -> bool:
    return 0 < len(handle) <= HANDLE_MAX and handle.isascii() and handle.replace("-", "").replace("_", "").isalnum()


def add_coordinator(store: Store, settings: Settings, handle: str, passphrase: str) -> CoordinatorRow:
    """Make keys for a new coordinator and store them wrapped under passphrase."""
    if not valid_handle(handle):
        raise BadHandle
    if account_rows.by_handle(store, handle):
        raise HandleTaken(f"coordinator {handle} already exists")
    keys = crypto.generate_keypair()
    wrapped = crypto.wrap_with_passphrase(keys, passphrase, settings.argon2)
    card = make_card(handle, keys)  # who this account is, signed by its own key: a swapped key shows
    with store.write() as tx:
        account_rows.insert_coordinator(tx, handle, keys.box_public, keys.sign_public, wrapped, card.sig)
    row = account_rows.by_handle(store, handle)
    assert row is not None
    return row


def login(store: Store, settings: Settings, handle: str, passphrase: str, code: str = "") -> bytes:
    """Check the passphrase (and the second-factor code, if on); open a session.

    Returns the cookie value (token + session key). A wrong code fails exactly
    like a wrong passphrase: same error, same throttle.

    Over the per-handle or the global limit, an existing handle still gets
    THROTTLED_CHECKS_PER_MINUTE attempts checked each minute: a right passphrase
    gets in, a wrong one is answered Throttled. Attempts beyond that, and every
    attempt at an unknown handle while over a limit, are refused without Argon2.
    """
    now_seconds = time.time()
    window = int(now_seconds // THROTTLE_WINDOW_SECONDS)
    # Throttle by handle (hashed, so unknown handles typed by anyone are not kept) and in all.
    handle_key = _hash(handle.encode("utf-8", "replace"), b"aidnet-throttle")
    # Each attempt is counted before the expensive check, in one write: attempts sent all at
    # once cannot all slip under the limit. A successful one gives its count back.
    with store.write() as tx:
        per_handle = account_rows.throttle_hit(tx, handle_key, window)
        in_all = account_rows.throttle_hit(tx, b"all", window)
        # Parenthesised comparisons joined by `or`: `a > 5 | (b > 100)` once parsed as `a > (5 | bool)`
        # and the global limit never applied.
        over = (per_handle > THROTTLE_PER_HANDLE) or (in_all > THROTTLE_GLOBAL)
        checked_over = False
        if over:
            # Over a limit, an unknown handle costs no Argon2 at all: that is what keeps the work bounded.
            row = account_rows.by_handle(store, handle) if valid_handle(handle) else None
            if row is not None:
                # One counter per handle per minute, kept under the window so the window's sweep clears it.
                minute = int(now_seconds // 60).to_bytes(8, "big")
                slot_key = _hash(handle_key + minute, b"aidnet-thr-min")
                checked_over = account_rows.throttle_hit(tx, slot_key, window) <= THROTTLED_CHECKS_PER_MINUTE
    if over and not checked_over:
        raise Throttled
    row = account_rows.by_handle(store, handle) if valid_handle(handle) else None
    try:
        if row is None:
            crypto.burn_argon2(settings.argon2, passphrase)  # same cost as a real attempt
            raise crypto.DecryptionError
        keys = crypto.unwrap_with_passphrase(row.wrapped_keys, passphrase)
        totp.check(store, row.id, keys, code)
    except (crypto.CryptoError, totp.WrongCode) as exc:
        if not isinstance(exc, totp.WrongCode):
            totp.burn_recovery_cost(settings, code)  # a right passphrase must not show in the timing
        if over:
            raise Throttled from None
        raise LoginFailed from None
    token = secrets.token_bytes(TOKEN_SIZE)
    session_key = crypto.new_session_key()
    now = int(time.time())
    with store.write() as tx:
        if not row.card_sig:  # an account made before cards: its owner's keys are here to make its card now
            account_rows.set_card_sig(tx, row.id, make_card(row.handle, keys).sig)
        account_rows.throttle_release(tx, handle_key)
        account_rows.throttle_release(tx, b"all")
        account_rows.delete_expired_sessions(tx, now)
        account_rows.insert_session(
            tx, _hash(token, b"aidnet-session"), row.id, crypto.wrap_with_key(keys, session_key),
            now + settings.session_idle_minutes * 60, now + settings.session_max_hours * 3600,
        )
    try:  # a member signing in makes this month's period key (and next month's) if none is in force
        periods.ensure(store, keys)
    except (Refused, crypto.CryptoError, StorageError):
        pass  # not founded yet, or a log that does not hold (the pages say so), or a full disk: sealing goes on
    return token + session_key


def check_new_passphrase(current: str, new: str) -> None:
    """WeakPassphrase unless new is long enough and not current; PassphraseTooLong beyond what wrapping takes."""
    if len(normalize_passphrase(new).encode("utf-8")) > MAX_PASSPHRASE_BYTES:
        raise PassphraseTooLong
    if len(new) < MIN_PASSPHRASE or normalize_passphrase(new) == normalize_passphrase(current):
        raise WeakPassphrase


def change_passphrase(store: Store, settings: Settings, handle: str, current: str, new: str,
                      keep_cookie: bytes = b"") -> int:
    """Wrap the account's keys (and a waiting rotation's next keys, if under the same one) under a new passphrase.

    The current passphrase must open them; wrong ones are limited to THROTTLE_PER_HANDLE a window
    per account (then refused without Argon2), on a counter of their own so that others' wrong
    logins at the handle cannot stop its owner from changing it. Every session of the account ends but the one
    keep_cookie opens (the one that asked), so a session someone else holds does not outlive
    the change. Returns how many sessions ended. The keys themselves do not change: what was
    sealed to them stays readable; a copy of the old wrapped keys (a backup) still opens with
    the old passphrase.
    """
    check_new_passphrase(current, new)
    row = account_rows.by_handle(store, handle) if valid_handle(handle) else None
    if row is None:
        raise LoginFailed
    change_key = _hash(handle.encode("utf-8", "replace"), b"aidnet-thr-chg")
    window = int(time.time() // THROTTLE_WINDOW_SECONDS)
    with store.write() as tx:
        if account_rows.throttle_hit(tx, change_key, window) > THROTTLE_PER_HANDLE:
            raise Throttled
    try:
        keys = crypto.unwrap_with_passphrase(row.wrapped_keys, current)
    except crypto.CryptoError:
        raise WrongPassphrase from None
    next_wrapped = waiting = account_rows.next_keys(store, row.id)
    if waiting is not None:
        # A rotation proposed before rotations asked for a new passphrase keeps its keys under this
        # one: they are wrapped anew too. Keys under the rotation's own passphrase are left as they are.
        try:
            next_pair = crypto.unwrap_with_passphrase(waiting[64:], current)
            next_wrapped = waiting[:64] + crypto.wrap_with_passphrase(next_pair, new, settings.argon2)
        except crypto.CryptoError:
            pass
    wrapped = crypto.wrap_with_passphrase(keys, new, settings.argon2)
    keep = _hash(keep_cookie[:TOKEN_SIZE], b"aidnet-session") if len(keep_cookie) == TOKEN_SIZE + 32 else b""
    with store.write() as tx:
        account_rows.throttle_release(tx, change_key)
        if not account_rows.set_wrapped_keys(tx, row.id, row.wrapped_keys, wrapped, next_wrapped):
            raise KeysChanged
        return account_rows.delete_sessions_of(tx, row.id, keep)


def resume(store: Store, settings: Settings, cookie: bytes) -> Session | None:
    """The session a cookie opens, or None if it is unknown, expired or does not unwrap."""
    if len(cookie) != TOKEN_SIZE + 32:
        return None
    token, session_key = cookie[:TOKEN_SIZE], cookie[TOKEN_SIZE:]
    token_hash = _hash(token, b"aidnet-session")
    row = account_rows.session(store, token_hash)
    now = int(time.time())
    if row is None or row.idle_until < now or row.hard_until < now:
        return None
    try:
        keys = crypto.unwrap_with_key(row.wrapped_keys, session_key)
    except crypto.CryptoError:
        return None
    coordinator = account_rows.by_id(store, row.coordinator_id)
    if coordinator is None or not hmac.compare_digest(coordinator.box_public, keys.box_public):
        return None
    idle_until = now + settings.session_idle_minutes * 60
    if idle_until - row.idle_until >= 60:  # one write a minute at most, not one a page
        with store.write() as tx:
            account_rows.touch_session(tx, token_hash, idle_until)
    return Session(coordinator, periods.reader(store, keys))


def set_language(store: Store, coordinator_id: int, code: str) -> None:
    """Remember the language this coordinator reads the pages in."""
    with store.write() as tx:
        account_rows.set_language(tx, coordinator_id, code)


def logout(store: Store, cookie: bytes) -> None:
    if len(cookie) != TOKEN_SIZE + 32:
        return
    with store.write() as tx:
        account_rows.delete_session(tx, _hash(cookie[:TOKEN_SIZE], b"aidnet-session"))
