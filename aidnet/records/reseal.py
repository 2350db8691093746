"""Re-sealing as the domain needs it: what the requester reads stays theirs, and old requests take their key in.

sealing.reseal knows only envelopes and readers. Here it is told, for an
answer or a reply, the requester's reply key (from inside the sealed request,
which the keyholder re-sealing can open), and a request made before reply
keys travelled inside takes its key in from the old clear column.
"""

from __future__ import annotations

from crypto import KeyPair

from ..sealing import periods, reseal
from ..sealing.reseal import Cursor, Progress
from ..store import Store
from .requests import carry_reply_key, requester_keys


def reseal_some(store: Store, keys: KeyPair, cursor: Cursor, seconds: float = float("inf"),
                progress: Progress | None = None) -> Cursor:
    keys = periods.reader(store, keys)  # a request sealed to a period key still gives its reply key
    return reseal.reseal_some(store, keys, cursor, seconds, progress, requester_key=requester_keys(store, keys),
                              upgrade=carry_reply_key)


def reseal_all(store: Store, keys: KeyPair, progress: Progress | None = None) -> tuple[int, int]:
    """Re-seal every record this keyholder can open to today's members; (resealed, skipped)."""
    cursor = reseal_some(store, keys, reseal.start(store), progress=progress)
    return cursor.done, cursor.skipped
