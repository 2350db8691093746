"""Seal a record to a set of recipients; open it with one recipient's key.

Format, version 2 (every new envelope), all lengths fixed except the body:

    header = b"AE" | 2 | n recipients (1) | n * sealed content key (80) | key commitment (32) | nonce (24)
    envelope = header | XChaCha20-Poly1305 ciphertext of the padded payload

The associated data is the record's kind, its id, its parent (the request an
answer, a reply, a note or an extension hangs on; empty for a request, an
offer or stock) and a hash of the whole header. So a server that moves an
envelope to another record, another kind or another parent, or strips, adds
or swaps a recipient slot, gets DecryptionError. The key commitment (a keyed
hash of the nonce under the content key, checked before decrypting) makes
one envelope open to one plaintext only: XChaCha20-Poly1305 alone does not
commit to its key, so without it two readers could be shown different texts.

Version 3 (a record sealed to a period key, see crypto/periods.py): the same, with an 8-byte key
hint after the count, so a reader knows which period secret opens slot 0 without trying each:

    header = b"AE" | 3 | n recipients (1) | key hint (8) | n * sealed content key (80) | commitment | nonce

The hint is inside the header, so it is bound by the associated data like the slots.

Version 1 (envelopes made before): no commitment, and the associated data is
the kind and id alone. They still open (parent is not checked for them); a
keyholder's re-seal rewrites them in version 2.

Padding hides the payload length up to its size bucket.
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Callable, Sequence

import nacl.bindings as sodium
import nacl.exceptions
import nacl.public
import nacl.utils

from .errors import DecryptionError, KeyFormatError
from .hashing import blake2b

MAGIC = b"AE"
VERSION = 2
VERSION_1 = 1
VERSION_3 = 3
HINT_SIZE = 8
KEY_SIZE = 32
SEALED_KEY_SIZE = KEY_SIZE + 48  # sealed box overhead: ephemeral pk + MAC
COMMIT_SIZE = 32
NONCE_SIZE = 24
TAG_SIZE = 16
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


def _field(value: bytes) -> bytes:
    return struct.pack(">H", len(value)) + value


def _associated_data_v1(record_id: bytes, kind: str) -> bytes:
    return MAGIC + bytes([VERSION_1]) + _field(kind.encode("ascii")) + _field(record_id)


def _associated_data(record_id: bytes, kind: str, parent: bytes, header: bytes) -> bytes:
    return (MAGIC + bytes([VERSION]) + _field(kind.encode("ascii")) + _field(record_id) + _field(parent)
            + blake2b(header, b"aidnet-env-head"))


def _commitment(content_key: bytes, nonce: bytes) -> bytes:
    return blake2b(nonce, b"aidnet-env-key", key=content_key)


class Keyring:
    """A reader's own X25519 secret, and a way to find the period secret an envelope's hint names.

    find(hint) returns the period secret for that hint, or None; each is asked for once per keyring.
    """

    def __init__(self, secret: bytes, find: Callable[[bytes], bytes | None] | None = None) -> None:
        if len(secret) != KEY_SIZE:
            raise KeyFormatError("secret key must be 32 bytes")
        self._secret = secret
        self._find = find
        self._found: dict[bytes, bytes | None] = {}

    def __repr__(self) -> str:  # never print secrets, even in a traceback
        return "Keyring(<secret>)"

    def secret_for(self, envelope: bytes) -> bytes:
        """The secret to open envelope with: the period secret its hint names if found, else the reader's own."""
        hint = key_hint(envelope)
        if hint is None or self._find is None:
            return self._secret
        if hint not in self._found:
            self._found[hint] = self._find(hint)
        return self._found[hint] or self._secret


def key_hint(envelope: bytes) -> bytes | None:
    """The period key hint of a version 3 envelope (None for any other)."""
    if len(envelope) >= 4 + HINT_SIZE and envelope[:2] == MAGIC and envelope[2] == VERSION_3:
        return envelope[4 : 4 + HINT_SIZE]
    return None


def seal(payload: bytes, record_id: bytes, kind: str, recipients: Sequence[bytes], parent: bytes = b"",
         hint: bytes = b"") -> bytes:
    """Encrypt payload so that any one of recipients (X25519 public keys) can open it.

    Guarantees confidentiality and integrity of payload, bound to (record_id, kind,
    parent) and to exactly these recipient slots; one plaintext for every reader.
    With a hint (8 bytes: the period key's, which must then be recipients[0]) the envelope is version 3.
    Danger: with no recipients nobody can ever read the record; that is refused.
    """
    if hint and len(hint) != HINT_SIZE:
        raise KeyFormatError("a key hint is 8 bytes")
    if not 1 <= len(recipients) <= MAX_RECIPIENTS:
        raise KeyFormatError("between 1 and 255 recipients are needed")
    for key in recipients:
        if len(key) != KEY_SIZE:
            raise KeyFormatError("recipient public key must be 32 bytes")
    fresh = nacl.utils.random(KEY_SIZE + NONCE_SIZE)  # one system call for both
    content_key, nonce = fresh[:KEY_SIZE], fresh[KEY_SIZE:]
    sealed_keys = b"".join(sodium.crypto_box_seal(content_key, key) for key in recipients)
    start = MAGIC + bytes([VERSION_3, len(recipients)]) + hint if hint else MAGIC + bytes([VERSION, len(recipients)])
    header = start + sealed_keys + _commitment(content_key, nonce) + nonce
    body = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        pad(payload), _associated_data(record_id, kind, parent, header), nonce, content_key
    )
    return header + body


def _split(envelope: bytes) -> tuple[int, list[bytes], bytes, bytes, bytes, bytes]:
    """(version, sealed keys, commitment, nonce, header, body); DecryptionError if it cannot be an envelope."""
    if len(envelope) < 4 or envelope[:2] != MAGIC or envelope[2] not in (VERSION_1, VERSION, VERSION_3):
        raise DecryptionError
    version, count = envelope[2], envelope[3]
    keys_start = 4 + (HINT_SIZE if version == VERSION_3 else 0)
    keys_end = keys_start + count * SEALED_KEY_SIZE
    commit_end = keys_end + (COMMIT_SIZE if version != VERSION_1 else 0)
    header_end = commit_end + NONCE_SIZE
    if count == 0 or len(envelope) < header_end + TAG_SIZE:
        raise DecryptionError
    sealed = [envelope[keys_start + i * SEALED_KEY_SIZE : keys_start + (i + 1) * SEALED_KEY_SIZE] for i in range(count)]
    return (version, sealed, envelope[keys_end:commit_end], envelope[commit_end:header_end], envelope[:header_end],
            envelope[header_end:])


def open_envelope(envelope: bytes, record_id: bytes, kind: str, secret_key: bytes | Keyring,
                  parent: bytes = b"") -> bytes:
    """Return the payload sealed in envelope, using one recipient's X25519 secret key (or a Keyring's).

    Raises DecryptionError, and only that, for any tampering, wrong key, wrong
    record id, kind or parent, a slot added or taken away, a key that does not
    match the commitment, or truncation.
    """
    if isinstance(secret_key, Keyring):
        secret_key = secret_key.secret_for(envelope)
    if len(secret_key) != KEY_SIZE:
        raise KeyFormatError("secret key must be 32 bytes")
    version, sealed, commitment, nonce, header, body = _split(envelope)
    public_key = sodium.crypto_scalarmult_base(secret_key)
    if version != VERSION_1:
        ad = _associated_data(record_id, kind, parent, header)
    else:
        ad = _associated_data_v1(record_id, kind)
    for candidate in sealed:
        try:
            content_key = sodium.crypto_box_seal_open(candidate, public_key, secret_key)
        except nacl.exceptions.CryptoError:
            continue
        if len(content_key) != KEY_SIZE:
            raise DecryptionError
        if version != VERSION_1 and not hmac.compare_digest(_commitment(content_key, nonce), commitment):
            raise DecryptionError  # a slot for this key that the envelope does not commit to
        try:
            padded = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(body, ad, nonce, content_key)
        except nacl.exceptions.CryptoError:
            raise DecryptionError from None
        return unpad(padded)
    raise DecryptionError


def recipient_count(envelope: bytes) -> int:
    """How many sealed keys the envelope carries (0 if it is not an envelope)."""
    try:
        return len(_split(envelope)[1])
    except DecryptionError:
        return 0


def version_of(envelope: bytes) -> int:
    """The envelope's format version (0 if it is not an envelope): re-seal rewrites 1 into 2."""
    try:
        return _split(envelope)[0]
    except DecryptionError:
        return 0
