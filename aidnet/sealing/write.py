"""How a sealed record is written: sealed to today's readers, kept only if they are still the readers at commit.

Every record sealed to the coordinators goes through sealed_write: requests,
offers, stock, answers, decision notes, extension reasons, and re-seals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from .. import dates
from ..errors import NotReady
from ..store import Store, Tx, groupcommit
from ..store import decision_log as log_rows
from .readers import Seen, readers

S = TypeVar("S")
R = TypeVar("R")
ATTEMPTS = 3


class ReadersChanged(Exception):
    """The readers kept changing between sealing and committing (decisions, or midnight): nothing was kept."""


def readers_unchanged(tx: Tx, seen: Seen) -> bool:
    """Inside a write: the log and the day are still those the readers were read at.

    A decision landing (another worker's, or a log swapped for one as long),
    or midnight ending someone's term, means a record sealed meanwhile went to
    the wrong readers: the caller seals again.
    """
    return (*log_rows.log_head(tx), dates.today()) == seen


def sealed_write(store: Store, seal: Callable[[list[bytes]], S], write: Callable[[Tx, S], R],
                 shared: bool = False) -> R:
    """Seal to today's readers, then write it in one transaction in which they still are the readers.

    seal(readers) makes the envelope(s), write(tx, sealed) stores them. If the
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
        recipients, seen = readers(store, recheck=attempt > 0)
        if not recipients:
            if attempt == 0:
                continue  # perhaps renewed by another process a moment ago: read the log itself
            raise NotReady
        sealed = seal(recipients)

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
