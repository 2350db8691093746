"""How a sealed record is written: sealed to today's readers, kept only if they are still the readers at commit.

Every record sealed to the coordinators goes through sealed_write: requests,
offers, stock, answers, decision notes, extension reasons, and re-seals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import crypto

from .. import dates
from ..errors import NotReady
from ..store import Store, Tx, groupcommit
from ..store import decision_log as log_rows
from . import periods
from .readers import Seen, state_for_sealing

S = TypeVar("S")
R = TypeVar("R")
ATTEMPTS = 3


@dataclass(frozen=True)
class Target:
    """Whom a record is sealed to now: this month's period key in force, or else the readers themselves."""

    keys: tuple[bytes, ...]  # the period key alone, or every reader's X25519 key
    hint: bytes = b""  # the period key's hint; empty when sealed to the readers directly

    def seal(self, payload: bytes, record_id: bytes, kind: str, parent: bytes = b"",
             also: Sequence[bytes] = ()) -> bytes:
        """payload sealed to this target (and to `also`, the requester's reply key, for what they read too)."""
        return crypto.seal(payload, record_id, kind, [*self.keys, *also], parent, hint=self.hint)


def target(store: Store, recheck: bool = True) -> tuple[Target | None, Seen]:
    """Whom new records are sealed to today (None if nobody can read yet), and what that was read at."""
    state, seen = state_for_sealing(store, recheck)
    if state is None:
        return None, seen
    readers = state.recipients(seen[2])
    if not readers:
        return None, seen
    key = periods.in_force(store, state, seen)
    return (Target((key.public,), key.hint) if key else Target(tuple(readers))), seen


class ReadersChanged(Exception):
    """The readers kept changing between sealing and committing (decisions, or midnight): nothing was kept."""


def readers_unchanged(tx: Tx, seen: Seen) -> bool:
    """Inside a write: the log and the day are still those the readers were read at.

    A decision landing (another worker's, or a log swapped for one as long),
    or midnight ending someone's term, means a record sealed meanwhile went to
    the wrong readers: the caller seals again.
    """
    return (*log_rows.log_head(tx), dates.today()) == seen


def sealed_write(store: Store, seal: Callable[[Target], S], write: Callable[[Tx, S], R],
                 shared: bool = False) -> R:
    """Seal to today's readers, then write it in one transaction in which they still are the readers.

    seal(target) makes the envelope(s) (target: this month's period key, or the readers), write(tx, sealed)
    stores them. If the
    readers changed in between, it seals again. shared=True lets the write
    share one durable commit with others arriving at the same moment
    (groupcommit); write must then follow groupcommit's rules for a piece of
    work. NotReady when there is no one to seal to; ReadersChanged if they keep
    changing. Durable on return.

    The first try may seal to the readers this process verified less than a
    second ago without reading the log: the commit checks the log did not move
    since, and a changed log means a full read and a new seal.
    """
    for attempt in range(ATTEMPTS):
        to, seen = target(store, recheck=attempt > 0)
        if to is None:
            if attempt == 0:
                continue  # perhaps renewed by another process a moment ago: read the log itself
            raise NotReady
        sealed = seal(to)

        def work(tx: Tx, sealed: S = sealed, seen: Seen = seen) -> R:
            if not readers_unchanged(tx, seen):
                raise ReadersChanged
            return write(tx, sealed)

        try:
            if shared:
                return groupcommit.run(store, work)
            with store.write() as tx:
                return work(tx)
        except ReadersChanged:
            continue
    raise ReadersChanged
