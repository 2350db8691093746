"""Requester codenames: the only thing a requester keeps, and the only way back in.

A codename is 7 words of 4 letters, each word two consonant-vowel syllables
(16 consonants x 4 vowels = 64 syllables, 4096 words, 12 bits a word):
84 bits in all. Words are invented, not English, so they read the same in
every language, are easy to copy by hand, and any spacing or punctuation the
person adds is ignored when they type it back.

From a codename and the instance salt, a keyed BLAKE2b derives a lookup id and
the seed of an X25519 key pair. At 84 bits a fast keyed hash is enough: a
slow KDF here would let a few status checks a second fill the server.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import nacl.bindings as sodium

from .errors import CodenameError
from .hashing import blake2b

CONSONANTS = "bdfghjklmnprstvz"
VOWELS = "aeiou"[:4]  # a e i o: "u" dropped so every syllable is unambiguous aloud
WORD_COUNT = 7
WORD_LETTERS = 4
BITS = WORD_COUNT * 12
SALT_SIZE = 32


def _syllable(n: int) -> str:
    return CONSONANTS[n // len(VOWELS)] + VOWELS[n % len(VOWELS)]


def generate() -> str:
    """A fresh random codename, words separated by spaces."""
    # One draw of 84 bits, cut into seven 12-bit words: uniform, and one system call, not seven.
    bits = secrets.randbits(WORD_COUNT * 12)
    words = []
    for i in range(WORD_COUNT):
        n = (bits >> (12 * i)) & 0xFFF
        words.append(_syllable(n // 64) + _syllable(n % 64))
    return " ".join(words)


def normalize(text: str) -> str:
    """The canonical form of a typed codename; CodenameError if it cannot be one."""
    letters = "".join(c for c in text.lower() if c.isalpha())
    if len(letters) != WORD_COUNT * WORD_LETTERS:
        raise CodenameError("wrong length")
    for i, c in enumerate(letters):
        alphabet = CONSONANTS if i % 2 == 0 else VOWELS
        if c not in alphabet:
            raise CodenameError("letter not in the codename alphabet")
    return " ".join(letters[i : i + WORD_LETTERS] for i in range(0, len(letters), WORD_LETTERS))


@dataclass(frozen=True, repr=False)
class CodenameKeys:
    """What a codename opens: a lookup id and the requester's reply key pair."""

    lookup_id: bytes
    reply_secret: bytes

    def __repr__(self) -> str:
        return "CodenameKeys(<secret>)"

    @property
    def reply_public(self) -> bytes:
        return sodium.crypto_scalarmult_base(self.reply_secret)

    @property
    def lookup_hash(self) -> bytes:
        """What the database stores: a hash of the lookup id, never the id."""
        return blake2b(self.lookup_id, b"aidnet-lkhash")


def derive(codename: str, salt: bytes) -> CodenameKeys:
    """Derive the lookup id and reply key from a codename (normalized first)."""
    if len(salt) != SALT_SIZE:
        raise CodenameError("instance salt must be 32 bytes")
    canonical = normalize(codename).encode("ascii")

    def kdf(person: bytes) -> bytes:
        return blake2b(canonical, person, key=salt)

    return CodenameKeys(lookup_id=kdf(b"aidnet-lookup"), reply_secret=kdf(b"aidnet-reply"))
