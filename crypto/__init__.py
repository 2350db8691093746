"""Pure cryptography for aidnet: no Flask, no database.

The offline keyholder tool needs only this package.
"""

from __future__ import annotations

from . import cards, log, notes, periods, strictjson
from .codename import CodenameKeys
from .codename import derive as derive_codename
from .codename import generate as generate_codename
from .codename import normalize as normalize_codename
from .envelope import Keyring, key_hint, open_envelope, recipient_count, seal, version_of
from .errors import CodenameError, CryptoError, DecryptionError, KeyFormatError
from .hashing import blake2b
from .keys import (
    Argon2Params,
    KeyPair,
    burn_argon2,
    generate_keypair,
    new_session_key,
    unwrap_with_key,
    unwrap_with_passphrase,
    wrap_with_key,
    wrap_with_passphrase,
)

__all__ = [
    "Argon2Params",
    "CodenameError",
    "CodenameKeys",
    "CryptoError",
    "DecryptionError",
    "KeyFormatError",
    "KeyPair",
    "Keyring",
    "blake2b",
    "cards",
    "log",
    "notes",
    "periods",
    "strictjson",
    "version_of",
    "burn_argon2",
    "derive_codename",
    "generate_codename",
    "generate_keypair",
    "key_hint",
    "new_session_key",
    "normalize_codename",
    "open_envelope",
    "recipient_count",
    "seal",
    "unwrap_with_key",
    "unwrap_with_passphrase",
    "wrap_with_key",
    "wrap_with_passphrase",
]
