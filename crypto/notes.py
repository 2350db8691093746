"""Decision notes: a sealed envelope kept outside the log, named in the decision by its hash.

The log carries only the hash, so a note can be erased with its request while
the decision stays verifiable; a note shown beside a decision must match it.
"""

from __future__ import annotations

from .envelope import Keyring, open_envelope
from .errors import CryptoError
from .hashing import blake2b

NOTE_KIND = "note"


def note_hash(envelope: bytes) -> str:
    """What a decision carries for its note: 64 hex digits."""
    return blake2b(envelope, b"aidnet-note").hex()


def open_note(proposal_id: str, note: str | None, envelope: bytes | None, secret_key: bytes | Keyring,
              parent: bytes = b"") -> str | None:
    """The note's text if envelope matches the hash the decision carries and the key opens it; else None.

    parent is the request the note hangs on (empty if none): the envelope is bound to it.
    """
    if not note or envelope is None or note_hash(envelope) != note:
        return None
    try:
        return open_envelope(envelope, bytes.fromhex(proposal_id), NOTE_KIND, secret_key, parent).decode("utf-8", "replace")
    except (CryptoError, ValueError):
        return None
