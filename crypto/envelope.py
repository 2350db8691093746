"""Seal a record to a set of recipients; open it with one recipient's key.

Format (version 1), all lengths fixed except the body:

    b"AE" | version (1) | n recipients (1) | n * sealed content key (80)
    | nonce (24) | XChaCha20-Poly1305 ciphertext of the padded payload

The associated data binds the ciphertext to its record id and kind, so a
server that moves one record's envelope onto another gets DecryptionError.
Padding hides the payload length up to its size bucket.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import nacl.bindings as sodium
import nacl.exceptions
import nacl.public
import nacl.utils

from .errors import DecryptionError, KeyFormatError

MAGIC = b"AE"
VERSION = 1
KEY_SIZE = 32
SEALED_KEY_SIZE = KEY_SIZE + 48  # sealed box overhead: ephemeral pk + MAC
NONCE_SIZE = 24
MAX_RECIPIENTS = 255
# Size buckets for padded payloads: an observer of the database learns only
# which bucket a record falls in.
BUCKETS = (512, 2048, 8192, 32768, 131072)
MAX_PAYLOAD = BUCKETS[-1] - 4


def pad(payload: bytes) -> bytes:
    """payload framed with its length and zero-filled to the smallest bucket that holds it."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError("payload too large to seal")
    framed = struct.pack(">I", len(payload)) + payload
    size = next(b for b in BUCKETS if b >= len(framed))
    return framed + bytes(size - len(framed))


def unpad(padded: bytes) -> bytes:
    """The payload inside a padded frame; DecryptionError if the frame's length does not fit."""
    if len(padded) < 4:
        raise DecryptionError
    (length,) = struct.unpack(">I", padded[:4])
    if length > len(padded) - 4:
        raise DecryptionError
    return padded[4 : 4 + length]


def _associated_data(record_id: bytes, kind: str) -> bytes:
    kind_bytes = kind.encode("ascii")
    return (
        MAGIC
        + bytes([VERSION])
        + struct.pack(">H", len(kind_bytes))
        + kind_bytes
        + struct.pack(">H", len(record_id))
        + record_id
    )


def seal(payload: bytes, record_id: bytes, kind: str, recipients: Sequence[bytes]) -> bytes:
    """Encrypt payload so that any one of recipients (X25519 public keys) can open it.

    Guarantees confidentiality and integrity of payload, bound to (record_id, kind).
    Danger: with no recipients nobody can ever read the record; that is refused.
    """
    if not 1 <= len(recipients) <= MAX_RECIPIENTS:
        raise KeyFormatError("between 1 and 255 recipients are needed")
    for key in recipients:
        if len(key) != KEY_SIZE:
            raise KeyFormatError("recipient public key must be 32 bytes")
    fresh = nacl.utils.random(KEY_SIZE + NONCE_SIZE)  # one system call for both
    content_key, nonce = fresh[:KEY_SIZE], fresh[KEY_SIZE:]
    header = MAGIC + bytes([VERSION, len(recipients)])
    sealed_keys = b"".join(sodium.crypto_box_seal(content_key, key) for key in recipients)
    body = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        pad(payload), _associated_data(record_id, kind), nonce, content_key
    )
    return header + sealed_keys + nonce + body


def _split(envelope: bytes) -> tuple[list[bytes], bytes, bytes]:
    if len(envelope) < 4 or envelope[:2] != MAGIC or envelope[2] != VERSION:
        raise DecryptionError
    count = envelope[3]
    keys_end = 4 + count * SEALED_KEY_SIZE
    if count == 0 or len(envelope) < keys_end + NONCE_SIZE + 16:
        raise DecryptionError
    sealed = [envelope[4 + i * SEALED_KEY_SIZE : 4 + (i + 1) * SEALED_KEY_SIZE] for i in range(count)]
    nonce = envelope[keys_end : keys_end + NONCE_SIZE]
    return sealed, nonce, envelope[keys_end + NONCE_SIZE :]


def open_envelope(envelope: bytes, record_id: bytes, kind: str, secret_key: bytes) -> bytes:
    """Return the payload sealed in envelope, using one recipient's X25519 secret key.

    Raises DecryptionError, and only that, for any tampering, wrong key, wrong
    record id or kind, or truncation.
    """
    if len(secret_key) != KEY_SIZE:
        raise KeyFormatError("secret key must be 32 bytes")
    sealed, nonce, body = _split(envelope)
    public_key = sodium.crypto_scalarmult_base(secret_key)
    ad = _associated_data(record_id, kind)
    for candidate in sealed:
        try:
            content_key = sodium.crypto_box_seal_open(candidate, public_key, secret_key)
        except nacl.exceptions.CryptoError:
            continue
        try:
            padded = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(body, ad, nonce, content_key)
        except nacl.exceptions.CryptoError:
            raise DecryptionError from None
        return unpad(padded)
    raise DecryptionError


def recipient_count(envelope: bytes) -> int:
    """How many sealed keys the envelope carries (0 if it is not an envelope)."""
    try:
        return len(_split(envelope)[0])
    except DecryptionError:
        return 0
