"""Decision notes: sealed to the current readers, kept outside the log, erased with their request.

The log keeps only the note's hash (crypto.notes), so the reason for an
allocation or a dispute can be erased when its request is, and the decision
stays verifiable.
"""

from __future__ import annotations

from crypto import KeyPair
from crypto.notes import NOTE_KIND, note_hash
from crypto.notes import open_note as open_note_envelope

from ..records.requests import parse_id
from ..sealing.write import sealed_write
from ..store import Store, Tx
from ..store import decision_log as log_rows
from ..store import requests as request_rows


def seal_note(store: Store, pid: str, text: str, request_hex: str | None = None) -> str | None:
    """Seal a note to the current members and keep it outside the log; return its hash for the decision.

    Tied to its request, the note is erased with it (retention, withdrawal).
    """
    if not text:
        return None
    request = parse_id(request_hex) if request_hex else None
    tied = request if request is not None and request_rows.by_id(store, request) is not None else None

    def write(tx: Tx, envelope: bytes) -> str:
        if tied is None or request_rows.by_id(store, tied) is not None:  # else erased meanwhile: its note goes too
            log_rows.insert_note(tx, pid, tied, envelope)
        return note_hash(envelope)

    # Bound to the request it hangs on (its parent): moved to another request's decision it no longer opens.
    return sealed_write(store, lambda to: to.seal(text.encode("utf-8"), bytes.fromhex(pid), NOTE_KIND, tied or b""), write)


def forget_note(store: Store, pid: str) -> None:
    """Erase the note sealed for a proposal that was refused before it was stored: nothing of it stays."""
    with store.write() as tx:
        log_rows.delete_note(tx, pid)


def open_note(store: Store, pid: str, note: str | None, keys: KeyPair) -> str | None:
    """A decision's note opened with these keys (None if there is none, it does not match, or they cannot open it)."""
    found = log_rows.note_for(store, pid) if note else None
    if found is None:
        return None
    envelope, parent = found
    return open_note_envelope(pid, note, envelope, keys.opener(), parent)
