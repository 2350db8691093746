"""Member cards: a keyholder's handle and two public keys, signed by the card's own signing key.

The box key (X25519) is the one that grants reading, so it must be the
owner's own: a card binds handle, box key and signing key together under a
signature only the owner's signing key can make. A database writer who swaps
the box key of an account or of a pending proposal cannot sign the result;
one who swaps both keys makes a different card, whose fingerprint no longer
matches the one its owner reads on their own screen.

The fingerprint people compare covers the whole card (handle and both keys):
128 bits of BLAKE2b, as eight groups of four letters and digits, read the
same on the Decisions page, by `aidnet coordinator add` and by the offline
keyholder tool.

Text form, to paste: ``aidnet-member:2:HANDLE:BOX:SIGN:SIG`` (keys and the
signature in hex). A rotation carries the new card and, besides, a signature
by the old signing key over the new card (rotation_signature).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.signing

from .errors import CryptoError
from .hashing import blake2b
from .keys import KeyPair

CARD_CONTEXT = b"aidnet-card-v1\x00"
ROTATION_CONTEXT = b"aidnet-rotation-v1\x00"
TEXT_PREFIX = "aidnet-member:2:"
HANDLE = re.compile(r"[A-Za-z0-9_-]{1,40}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")
FINGERPRINT_BYTES = 16


class CardError(CryptoError):
    """A member card is malformed, or its signature does not hold."""


@dataclass(frozen=True)
class Card:
    handle: str
    box: str  # X25519 public key, hex: who can read
    sign: str  # Ed25519 public key, hex: who signs
    sig: str  # Ed25519 signature by sign over the three above, hex

    def signed_bytes(self) -> bytes:
        return card_message(self.handle, self.box, self.sign)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.handle, self.box, self.sign)

    def to_text(self) -> str:
        return f"{TEXT_PREFIX}{self.handle}:{self.box}:{self.sign}:{self.sig}"


def card_message(handle: str, box: str, sign: str) -> bytes:
    return CARD_CONTEXT + "\x00".join((handle, box, sign)).encode("ascii")


def fingerprint(handle: str, box: str, sign: str) -> str:
    """128 bits over the whole card, as 8 groups of 4 hex digits to read aloud or compare on paper."""
    digest = blake2b(card_message(handle, box, sign), b"aidnet-cardfp", size=FINGERPRINT_BYTES).hex()
    return " ".join(digest[i:i + 4] for i in range(0, len(digest), 4))


def make_card(handle: str, keys: KeyPair) -> Card:
    """The self-signed card of these keys."""
    if not HANDLE.fullmatch(handle):
        raise CardError("a handle is letters, digits, - or _ (at most 40)")
    box, sign = keys.box_public.hex(), keys.sign_public.hex()
    sig = nacl.signing.SigningKey(keys.sign_seed).sign(card_message(handle, box, sign)).signature.hex()
    return Card(handle, box, sign, sig)


def card_signature_valid(handle: Any, box: Any, sign: Any, sig: Any) -> bool:
    """True if sig is sign's signature over the card (handle, box, sign); False for anything malformed."""
    if not (isinstance(handle, str) and HANDLE.fullmatch(handle) and isinstance(box, str) and _HEX64.fullmatch(box)
            and isinstance(sign, str) and _HEX64.fullmatch(sign) and isinstance(sig, str) and _HEX128.fullmatch(sig)):
        return False
    try:
        nacl.signing.VerifyKey(bytes.fromhex(sign)).verify(card_message(handle, box, sign), bytes.fromhex(sig))
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        return False
    return True


def verified(card: Card) -> Card:
    """The card, if its own signature holds; CardError otherwise."""
    if not card_signature_valid(card.handle, card.box, card.sign, card.sig):
        raise CardError("the card's signature does not match its keys: it was not made by their owner")
    return card


def parse_card(text: str) -> Card:
    """A card from its text form, its signature checked; CardError if it is not a valid card."""
    stripped = text.strip()
    if not stripped.startswith(TEXT_PREFIX):
        raise CardError("not a member card (it starts with aidnet-member:2:)")
    parts = stripped[len(TEXT_PREFIX):].split(":")
    if len(parts) != 4:
        raise CardError("not a member card")
    return verified(Card(*parts))


def rotation_message(old_sign: str, new: Card) -> bytes:
    return ROTATION_CONTEXT + old_sign.encode("ascii") + b"\x00" + new.signed_bytes()


def rotation_signature(old: KeyPair, new: Card) -> str:
    """The old signing key's word that the new card is its successor."""
    return nacl.signing.SigningKey(old.sign_seed).sign(rotation_message(old.sign_public.hex(), new)).signature.hex()


def rotation_signature_valid(old_sign: str, new: Card, sig: Any) -> bool:
    if not (isinstance(sig, str) and _HEX128.fullmatch(sig) and _HEX64.fullmatch(old_sign)):
        return False
    try:
        nacl.signing.VerifyKey(bytes.fromhex(old_sign)).verify(rotation_message(old_sign, new), bytes.fromhex(sig))
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        return False
    return True
