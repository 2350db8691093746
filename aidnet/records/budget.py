"""The public intake budget: how many requests and offers the whole site takes each minute.

Over Tor every sender is 127.0.0.1 and onion proof-of-work prices circuits,
not posts on one circuit, so the budget is global: one count per kind per
clock minute, for everyone together.

The counts live in memory only, never in the database: a count kept on disk
names the minute it belongs to, and so the arrival minute of the newest
public submission, finer than the day everything else keeps (non-negotiable 3).
The server's master process makes one IntakeBudget before it starts its
workers; the page of memory it maps is shared with every worker forked from
it, and a restart forgets it (a flood then gets one more minute's budget).

A take happens inside the very write that stores the record, before any
statement of it: the writer lock (store.connection) orders the takes of every
thread and worker process, so two workers never both take the last place, and
a record refused for the budget leaves nothing behind (no row, no counter, no
used form). The count is not part of the transaction: a write refused or lost
after its take (a replayed form, the disk, a group commit run again) leaves
its place taken, so the budget errs on the side of taking fewer, never more.

The count says only how many were taken in a minute, never what or from whom.
Requests a logged-in coordinator types in for someone are not counted.
"""

from __future__ import annotations

import mmap
import struct
import time

from ..config import Settings
from ..errors import Refused
from ..store import Tx

KINDS = ("request", "offer")
_SLOT = struct.Struct("<qq")  # per kind: the clock minute counted, and how many were taken in it


class Busy(Refused):
    """This minute's budget for public submissions is spent: nothing was kept; try again after retry_after."""

    reason = "the site is receiving many requests; try again in a few minutes"

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after


class IntakeBudget:
    """This minute's counts for public requests and offers, in memory shared with the processes forked after it."""

    def __init__(self) -> None:
        # Anonymous and shared: no file anywhere, and a worker forked later writes the same page.
        self._memory = mmap.mmap(-1, _SLOT.size * len(KINDS), flags=mmap.MAP_SHARED)

    def _offset(self, kind: str) -> int:
        if kind not in KINDS:
            raise ValueError("kind must be request or offer")
        return KINDS.index(kind) * _SLOT.size

    def taken(self, kind: str, minute: int) -> int:
        """How many of kind were taken in this clock minute."""
        counted, count = _SLOT.unpack_from(self._memory, self._offset(kind))
        return int(count) if counted == minute else 0

    def check(self, settings: Settings, kind: str) -> None:
        """Busy if this minute's budget for kind is already spent (a read only, before any sealing work)."""
        now = time.time()
        if self.taken(kind, int(now // 60)) >= settings.intake.per_minute(kind):
            raise Busy(_retry_after(now))

    def take(self, tx: Tx, settings: Settings, kind: str) -> None:
        """Count one of kind, or Busy if the minute is full: call first in the write that stores it (tx: held)."""
        del tx  # not written to: holding it is what orders this take against every other writer's
        now = time.time()
        minute = int(now // 60)
        count = self.taken(kind, minute)
        if count >= settings.intake.per_minute(kind):
            raise Busy(_retry_after(now))
        _SLOT.pack_into(self._memory, self._offset(kind), minute, count + 1)


def _retry_after(now: float) -> int:
    """Seconds to the next clock minute (1 to 60)."""
    return 60 - int(now % 60)
