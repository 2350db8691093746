"""Period keys in use: which one new records are sealed to, who makes them, how readers open them.

A record is sealed to this month's period key only if a member active today
signed its statement for exactly today's readers (crypto.periods.checked,
against the verified log); otherwise to the readers directly, as before a
group had period keys. So a key an operator wrote into the database, or one
made before a membership change or the end of someone's term, is never
sealed to. A member with keys at hand (a keyholder's session, a re-seal)
makes the month's key and next month's when they are missing.

Destroying a key (retention, once no record of a past month needs it) is
what shreds the copies of its records kept anywhere else.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import crypto
from crypto import KeyPair
from crypto import periods as period_crypto
from crypto.log import LogState
from crypto.periods import PeriodKey

from .. import dates
from ..store import Store
from ..store import periods as period_rows
from .readers import Seen, current

CACHE_SECONDS = 1.0

_in_force: dict[tuple[str, Seen], tuple[float, PeriodKey | None]] = {}
_lock = threading.Lock()


def month(day: int) -> str:
    """The period a day falls in: its month, YYYY-MM."""
    return dates.day_to_date(day).strftime("%Y-%m")


def next_month(day: int) -> str:
    date = dates.day_to_date(day)
    return f"{date.year + date.month // 12}-{date.month % 12 + 1:02d}"


def valid_for(key: PeriodKey, state: LogState, day: int, period: str) -> bool:
    """Whether key may be sealed to in period: signed by a member active on day, for exactly day's readers."""
    try:
        statement = period_crypto.checked(key)
    except crypto.CryptoError:
        return False
    signer = state.members.get(statement["signer"])
    return (statement["genesis"] == state.genesis and statement["period"] == period
            and signer is not None and signer.active(day)
            and statement["readers"] == sorted(r.hex() for r in state.recipients(day)))


def in_force(store: Store, state: LogState, seen: Seen) -> PeriodKey | None:
    """The period key new records are sealed to now (None: seal to the readers directly).

    Read and checked at most once a second per log state, so a submission does not read the table.
    """
    cache_key = (str(store.path), seen)
    now = time.monotonic()
    with _lock:
        cached = _in_force.get(cache_key)
    if cached is not None and now - cached[0] < CACHE_SECONDS:
        return cached[1]
    day = seen[2]
    period = month(day)
    found = next((k for k in period_rows.for_period(store, period) if valid_for(k, state, day, period)), None)
    with _lock:
        if len(_in_force) > 64:
            _in_force.clear()
        _in_force[cache_key] = (now, found)
    return found


def forget() -> None:
    """Drop what this process remembered of the keys in force (a key was made or destroyed)."""
    with _lock:
        _in_force.clear()


def ensure(store: Store, keys: KeyPair) -> list[str]:
    """Make this month's and next month's key for today's readers if a member with these keys may; the months made.

    Nothing is made if keys are not an active member's (they could not sign a key the server would use).
    """
    state = current(store)
    day = dates.today()
    member = state.members.get(keys.sign_public.hex())
    if member is None or not member.active(day):
        return []
    readers = state.recipients(day)
    made = []
    for period in (month(day), next_month(day)):
        if any(valid_for(k, state, day, period) for k in period_rows.for_period(store, period)):
            continue
        key = period_crypto.make(keys, state.genesis, period, readers)
        with store.write() as tx:
            period_rows.add(tx, key)
        made.append(period)
    if made:
        forget()
    return made


def reader(store: Store, keys: KeyPair) -> KeyPair:
    """keys that also open records sealed to a period key whose secret is sealed to them (KeyPair.opener).

    Each period secret is opened at most once for these keys (a page view, a command), never kept past them.
    """
    if keys.periods is not None:
        return keys
    secret = keys.box_secret
    found: dict[bytes, bytes | None] = {}

    def find(hint: bytes) -> bytes | None:
        if hint not in found:
            key = period_rows.by_hint(store, hint)
            try:
                found[hint] = period_crypto.open_secret(key.hint, key.public, key.sealed, secret) if key else None
            except crypto.CryptoError:
                found[hint] = None
        return found[hint]

    return dataclasses.replace(keys, periods=find)


def opened_hints(store: Store, keys: KeyPair) -> set[bytes]:
    """The hints of every stored period key whose secret these keys open."""
    return {k.hint for k in period_rows.every(store) if _opens(keys.box_secret, k)}


def _opens(secret: bytes, key: PeriodKey) -> bool:
    try:
        period_crypto.open_secret(key.hint, key.public, key.sealed, secret)
    except crypto.CryptoError:
        return False
    return True
