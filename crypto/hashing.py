"""BLAKE2b with a purpose label (personalization), so hashes for one job never match another's."""

from __future__ import annotations

import hashlib


def blake2b(data: bytes, purpose: bytes, key: bytes = b"", size: int = 32) -> bytes:
    """A 32-byte BLAKE2b of data, keyed when key is given; purpose is at most 16 bytes."""
    if len(purpose) > 16:
        raise ValueError("purpose label is at most 16 bytes")
    return hashlib.blake2b(data, digest_size=size, key=key, person=purpose).digest()
