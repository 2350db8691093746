"""Retention: erase what is due (crypto-shredding), and let coordinators keep a request longer, with a reason.

Purging deletes the whole request row — its sealed envelope and the content
key sealed to each coordinator inside it — with its replies and extension
reasons. secure_delete overwrites the freed pages with zeros and a TRUNCATE
checkpoint folds the WAL back and empties it, so the ciphertext is gone from
every file; without it, no key anywhere can open the request again.
Counters are never touched: they were bumped when things happened and hold
no link to a request.

Expired requests are erased a batch at a time, each batch its own short
transaction, so submissions never wait behind one long purge.

The policy comes from config.toml ([retention]).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import crypto
from crypto import KeyPair

from .. import dates
from ..config import Settings
from ..errors import NotReady
from ..sealing import periods
from ..sealing.write import sealed_write
from ..store import StorageError, Store, Tx
from ..store import accounts as account_rows
from ..store import periods as period_rows
from ..store import retention as retention_rows
from .requests import FINISHED, parse_id

KIND_EXTENSION = "retention-extension"
WITHDRAWN = ("withdrawn",)
REASON_MAX = 500
BATCH = 500
Progress = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True)
class PurgeReport:
    shortened: int
    requests: int
    offers: int
    other: int
    period_keys: int = 0  # period keys destroyed: no record of their month is left

    def changed(self) -> bool:
        return bool(self.shortened or self.requests or self.offers or self.other or self.period_keys)


@dataclass(frozen=True)
class Extension:
    until: str
    reason: str | None  # None: not sealed to this coordinator's key


def purge(store: Store, settings: Settings, today: int | None = None, now: int | None = None,
          progress: Progress | None = None) -> PurgeReport:
    """Apply the retention policy once; running it again the same day changes nothing."""
    day = dates.today() if today is None else today
    clock = int(time.time()) if now is None else now
    policy = settings.policy
    with store.write() as tx:
        # A request that finished lives closed_days more, counted from the first purge that sees it finished.
        shortened = retention_rows.clamp_closed(tx, FINISHED, day + policy.closed_days)
        # A withdrawn request goes even if a coordinator had extended it: withdrawing is the requester's call.
        shortened += retention_rows.clamp_closed(tx, WITHDRAWN, day + policy.withdrawn_days - 1, keep_extended=False)
    total = retention_rows.expired_request_count(store, day)
    requests = 0
    while True:
        with store.write() as tx:
            erased = retention_rows.delete_expired_requests(tx, day, BATCH)
        requests += erased
        if progress is not None:
            progress(min(requests, total), total)
        if erased < BATCH:
            break
    with store.write() as tx:
        offers = retention_rows.delete_expired(tx, "offers", day)
        other = retention_rows.delete_expired(tx, "used_forms", day) + account_rows.delete_expired_sessions(tx, clock)
        # Stock and funds received: their sealed details go after the same time as a request's.
        other += retention_rows.delete_expired(tx, "stock", day)
        # A past month's key goes with the last record sealed to it: every copy of its records kept
        # anywhere else (an old bundle, a freed page, a backup once deleted) no longer opens.
        period_keys = period_rows.destroy_unused(tx, periods.month(day))
    if period_keys:
        periods.forget()
    checkpoint(store)
    return PurgeReport(shortened, requests, offers, other, period_keys)


def checkpoint(store: Store, attempts: int = 20) -> None:
    """Fold the WAL into the database and empty it; StorageError if readers keep it busy."""
    if not store.checkpoint_soon(attempts):
        raise StorageError("could not checkpoint the WAL (readers busy); run purge again")


def extend(store: Store, settings: Settings, request_hex: str, days: int, reason: str) -> bool:
    """Keep a request until `days` from today, with a reason sealed to the coordinators; False if it is gone."""
    if not 1 <= days <= settings.policy.max_extension_days:
        raise ValueError("days out of range")
    raw = parse_id(request_hex)
    if raw is None:
        return False
    record_id = secrets.token_bytes(16)

    def write(tx: Tx, envelope: bytes) -> bool:
        return retention_rows.extend_request(tx, id=record_id, request_id=raw, until_day=dates.today() + days,
                                             envelope=envelope)

    try:  # sealed like a note to the current readers: the reason may say something about the person
        return sealed_write(
            store, lambda to: to.seal(reason.encode("utf-8"), record_id, KIND_EXTENSION, raw), write)
    except NotReady:
        return False


def extensions(store: Store, keys: KeyPair, request_hex: str) -> list[Extension]:
    """A request's extensions, reasons opened with this coordinator's key where it can."""
    raw = parse_id(request_hex)
    if raw is None:
        return []
    found = []
    for record_id, until_day, envelope in retention_rows.extensions_for(store, raw):
        try:
            reason: str | None = crypto.open_envelope(envelope, record_id, KIND_EXTENSION, keys.opener(), raw).decode()
        except (crypto.CryptoError, UnicodeDecodeError):
            reason = None
        found.append(Extension(until=dates.day_to_date(until_day).isoformat(), reason=reason))
    return found
