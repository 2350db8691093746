"""The public intake budget: how many requests and offers the whole site takes each minute.

Over Tor every sender is 127.0.0.1 and onion proof-of-work prices circuits,
not posts on one circuit, so the budget is global: one count per kind per
clock minute, for everyone together. It is kept in the throttle table beside
the login counts, under the login throttle's window so the same sweep clears
it, and taken inside the very write that stores the record: across worker
processes the writer lock orders the takes, and a record refused for the
budget leaves nothing behind (no row, no counter, no used form).

The count says only how many were taken in a minute, never what or from whom.
Requests a logged-in coordinator types in for someone are not counted.
"""

from __future__ import annotations

import time

from ..config import Settings
from ..errors import Refused
from ..store import Store, Tx
from ..store import accounts as account_rows
from .coordinators import THROTTLE_WINDOW_SECONDS

KINDS = ("request", "offer")


class Busy(Refused):
    """This minute's budget for public submissions is spent: nothing was kept; try again after retry_after."""

    reason = "the site is receiving many requests; try again in a few minutes"

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after


def _slot(kind: str, now: float) -> tuple[bytes, int, int]:
    """(key, window, seconds to the next minute) for kind at now."""
    if kind not in KINDS:
        raise ValueError("kind must be request or offer")
    minute = int(now // 60)
    return (b"intake:" + kind.encode("ascii") + b":" + minute.to_bytes(8, "big"),
            int(now // THROTTLE_WINDOW_SECONDS), 60 - int(now % 60))


def check(store: Store, settings: Settings, kind: str) -> None:
    """Busy if this minute's budget for kind is already spent (a read only, before any sealing work)."""
    key, window, left = _slot(kind, time.time())
    if account_rows.throttle_count(store, key, window) >= settings.intake.per_minute(kind):
        raise Busy(left)


def take(tx: Tx, settings: Settings, kind: str) -> None:
    """Inside the write that stores a public submission: count it, or Busy (nothing written) if the minute is full."""
    key, window, left = _slot(kind, time.time())
    if not account_rows.throttle_take(tx, key, window, settings.intake.per_minute(kind)):
        raise Busy(left)
