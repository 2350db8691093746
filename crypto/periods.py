"""Period keys: the key a month's records are sealed to, whose secret is sealed to that month's readers.

A record's content key is sealed to one period key (envelope version 3,
whose hint names it), not to every reader: the period's secret, sealed to the
readers, exists once per period in the database (and in the backups taken
while it lived). Destroying it shreds every copy of that month's records
that nobody decrypted elsewhere — a stray copy of an envelope, a freed page,
an old bundle — and a membership change re-seals one secret per period
instead of every row. Each envelope carries one slot (two when the requester
reads it too), so its size no longer shows how many readers there are.

A member makes a period key (the secret never leaves memory in clear) and
signs a statement of it:

    {"v": 1, "genesis", "period" ("2026-12"), "public", "readers" (the X25519 keys it is sealed to,
     sorted), "sealed" (BLAKE2b of the sealed secret), "signer" (the member's Ed25519 key)}

The server seals to a period key only if its statement is signed by a member
active today, names today's month, and names exactly today's readers from
the verified log, and the sealed secret stored is the one signed
(aidnet/sealing/periods.py): an operator who writes a key of their own into
the database, or keeps one past a membership change, is never sealed to.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import nacl.bindings as sodium
import nacl.exceptions
import nacl.public
import nacl.signing

from . import strictjson
from .envelope import HINT_SIZE, KEY_SIZE, open_envelope, seal
from .errors import CryptoError
from .hashing import blake2b
from .keys import KeyPair
from .log import canonical

KIND = "period-key"
CONTEXT = b"aidnet-period-v1\x00"
PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")


class PeriodKeyError(CryptoError):
    """A period key's statement is malformed, not signed by its signer, or does not match its key."""


@dataclass(frozen=True)
class PeriodKey:
    """A period key as stored: nothing here is secret (the secret is sealed to the readers)."""

    hint: bytes
    public: bytes
    sealed: bytes  # the period secret, sealed to the readers (kind "period-key", record id the hint)
    statement: bytes  # canonical JSON, as signed
    signature: bytes

    @property
    def period(self) -> str:
        return str(strictjson.loads(self.statement)["period"])


def hint_of(public: bytes) -> bytes:
    """The 8-byte hint an envelope sealed to this period key carries."""
    return blake2b(public, b"aidnet-period", size=HINT_SIZE)


def seal_secret(secret: bytes, readers: Sequence[bytes]) -> bytes:
    """The period secret sealed to readers (their X25519 keys)."""
    public = sodium.crypto_scalarmult_base(secret)
    return seal(secret, hint_of(public), KIND, readers)


def make(keys: KeyPair, genesis: str, period: str, readers: Sequence[bytes]) -> PeriodKey:
    """A fresh period key for period, its secret sealed to readers, its statement signed by keys."""
    if not PERIOD.fullmatch(period):
        raise PeriodKeyError("a period is a month: YYYY-MM")
    private = nacl.public.PrivateKey.generate()
    public = bytes(private.public_key)
    sealed = seal_secret(bytes(private), readers)
    statement = canonical({
        "v": 1, "genesis": genesis, "period": period, "public": public.hex(),
        "readers": sorted(r.hex() for r in readers), "sealed": blake2b(sealed, b"aidnet-period-sd").hex(),
        "signer": keys.sign_public.hex(),
    })
    signature = nacl.signing.SigningKey(keys.sign_seed).sign(CONTEXT + statement).signature
    return PeriodKey(hint_of(public), public, sealed, statement, bytes(signature))


def checked(key: PeriodKey) -> dict[str, Any]:
    """The statement of key, if its signature holds and it names this key and this sealed secret.

    PeriodKeyError otherwise. Whether the signer is a member and the readers are
    today's is the caller's to check, against the verified log.
    """
    try:
        statement = strictjson.loads(key.statement)
    except strictjson.StrictJSONError:
        raise PeriodKeyError("the statement is not JSON") from None
    if (not isinstance(statement, dict) or type(statement.get("v")) is not int or statement["v"] != 1
            or set(statement) != {"v", "genesis", "period", "public", "readers", "sealed", "signer"}
            or not all(isinstance(statement[k], str) for k in ("genesis", "period", "public", "sealed", "signer"))
            or not PERIOD.fullmatch(statement["period"]) or not _HEX64.fullmatch(statement["signer"])
            or not isinstance(statement["readers"], list)
            or not all(isinstance(r, str) and _HEX64.fullmatch(r) for r in statement["readers"])
            or canonical(statement) != key.statement):
        raise PeriodKeyError("the statement is not a period key's")
    try:
        nacl.signing.VerifyKey(bytes.fromhex(statement["signer"])).verify(CONTEXT + key.statement, key.signature)
    except (nacl.exceptions.BadSignatureError, ValueError, TypeError):
        raise PeriodKeyError("the statement's signature does not hold") from None
    if (statement["public"] != key.public.hex() or hint_of(key.public) != key.hint
            or statement["sealed"] != blake2b(key.sealed, b"aidnet-period-sd").hex()):
        raise PeriodKeyError("the statement is for another key or another sealed secret")
    return statement


def open_secret(hint: bytes, public: bytes, sealed: bytes, secret: bytes) -> bytes:
    """The period secret sealed in `sealed`, opened with a reader's secret; CryptoError if it is not that key's."""
    period_secret = open_envelope(sealed, hint, KIND, secret)
    if len(period_secret) != KEY_SIZE or sodium.crypto_scalarmult_base(period_secret) != public \
            or hint_of(public) != hint:
        raise PeriodKeyError("the sealed secret is not this period key's")
    return period_secret
