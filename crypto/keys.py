"""Coordinator key pairs and the two ways they are kept wrapped.

A coordinator holds an X25519 key (to read sealed records) and an Ed25519
key (to sign decisions). At rest both secrets are wrapped under a key derived
from their passphrase with Argon2id; during a web session, under a random
session key that only the coordinator's cookie holds.
"""

from __future__ import annotations

import struct
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

import nacl.exceptions
import nacl.public
import nacl.secret
import nacl.signing
import nacl.utils
from argon2.low_level import Type, hash_secret_raw

from .envelope import Keyring
from .errors import DecryptionError, KeyFormatError

# RFC 9106, second recommended option: Argon2id, t=3, m=64 MiB, p=4.
ARGON2_TIME_COST = 3
ARGON2_MEMORY_KIB = 64 * 1024
ARGON2_PARALLELISM = 4
# A forged blob must not make the server allocate unbounded memory.
ARGON2_MAX_MEMORY_KIB = 1024 * 1024
ARGON2_MAX_TIME_COST = 16
SALT_SIZE = 16
KEY_SIZE = 32
# Passphrases beyond this are refused before Argon2 sees them (avoid DoS).
MAX_PASSPHRASE_BYTES = 1024

_PASS_MAGIC = b"AK"
_SESSION_MAGIC = b"AS"
_VERSION = 1
PASS_HEADER = struct.Struct(">2sBIBB")  # magic, version, memory KiB, time, lanes


@dataclass(frozen=True)
class Argon2Params:
    """Cost of deriving a wrapping key; production uses the RFC 9106 defaults."""

    time_cost: int = ARGON2_TIME_COST
    memory_kib: int = ARGON2_MEMORY_KIB
    parallelism: int = ARGON2_PARALLELISM


@dataclass(frozen=True, repr=False)
class KeyPair:
    """A coordinator's secrets: X25519 (reading) and Ed25519 seed (signing).

    periods, if given, finds the period secret a version 3 envelope's hint names (crypto.periods), opened
    with box_secret: what opener() hands to open_envelope. It is no part of the keys themselves.
    """

    box_secret: bytes
    sign_seed: bytes
    periods: Callable[[bytes], bytes | None] | None = field(default=None, compare=False)

    def opener(self) -> Keyring:
        """What records are opened with: this box secret, and the period secrets it opens."""
        return Keyring(self.box_secret, self.periods)

    def __repr__(self) -> str:  # never print secrets, even in a traceback
        return "KeyPair(<secret>)"

    @property
    def box_public(self) -> bytes:
        return bytes(nacl.public.PrivateKey(self.box_secret).public_key)

    @property
    def sign_public(self) -> bytes:
        return bytes(nacl.signing.SigningKey(self.sign_seed).verify_key)

    def to_bytes(self) -> bytes:
        return self.box_secret + self.sign_seed

    @classmethod
    def from_bytes(cls, raw: bytes) -> KeyPair:
        if len(raw) != 2 * KEY_SIZE:
            raise KeyFormatError("key pair must be 64 bytes")
        return cls(raw[:KEY_SIZE], raw[KEY_SIZE:])


def generate_keypair() -> KeyPair:
    """Fresh random reading and signing keys."""
    return KeyPair(nacl.utils.random(KEY_SIZE), nacl.utils.random(KEY_SIZE))


# At most this many Argon2 computations run at once in a process, whatever the
# server's thread count: each holds params.memory_kib (64 MiB by default) while it runs.
ARGON2_AT_ONCE = 2
_argon2_slots = threading.BoundedSemaphore(ARGON2_AT_ONCE)


def argon2id(secret: bytes, salt: bytes, params: Argon2Params, length: int = KEY_SIZE) -> bytes:
    """Argon2id of secret, waiting for one of the process's ARGON2_AT_ONCE slots."""
    with _argon2_slots:
        return hash_secret_raw(secret, salt, time_cost=params.time_cost, memory_cost=params.memory_kib,
                               parallelism=params.parallelism, hash_len=length, type=Type.ID)


def normalize_passphrase(passphrase: str) -> str:
    """The form a passphrase is hashed in: Unicode NFC, so "é" typed as one character or as e + accent is one passphrase."""
    return unicodedata.normalize("NFC", passphrase)


def _derive(passphrase: str, salt: bytes, params: Argon2Params) -> bytes:
    secret = normalize_passphrase(passphrase).encode("utf-8")
    if len(secret) > MAX_PASSPHRASE_BYTES:
        raise DecryptionError
    return argon2id(secret, salt, params)


def wrap_with_passphrase(keys: KeyPair, passphrase: str, params: Argon2Params | None = None) -> bytes:
    """Encrypt keys under an Argon2id key from passphrase; the cost travels in the blob."""
    params = params or Argon2Params()
    if len(normalize_passphrase(passphrase).encode("utf-8")) > MAX_PASSPHRASE_BYTES:
        raise KeyFormatError("passphrase too long")
    salt = nacl.utils.random(SALT_SIZE)
    header = PASS_HEADER.pack(
        _PASS_MAGIC, _VERSION, params.memory_kib, params.time_cost, params.parallelism
    )
    box = nacl.secret.SecretBox(_derive(passphrase, salt, params))
    return header + salt + bytes(box.encrypt(keys.to_bytes()))


def unwrap_with_passphrase(blob: bytes, passphrase: str) -> KeyPair:
    """Open a passphrase-wrapped blob. A wrong passphrase raises DecryptionError."""
    if len(blob) < PASS_HEADER.size + SALT_SIZE or blob[:2] != _PASS_MAGIC:
        raise KeyFormatError("not a passphrase-wrapped key")
    _, version, memory_kib, time_cost, lanes = PASS_HEADER.unpack(blob[: PASS_HEADER.size])
    if (
        version != _VERSION
        or not 8 <= memory_kib <= ARGON2_MAX_MEMORY_KIB
        or not 1 <= time_cost <= ARGON2_MAX_TIME_COST
        or not 1 <= lanes <= 16
        or memory_kib < 8 * lanes  # Argon2 needs 8 KiB a lane (found by fuzzing: HashingError escaped)
    ):
        raise KeyFormatError("unsupported wrapped key parameters")
    salt = blob[PASS_HEADER.size : PASS_HEADER.size + SALT_SIZE]
    params = Argon2Params(time_cost, memory_kib, lanes)
    sealed = blob[PASS_HEADER.size + SALT_SIZE :]
    try:
        return KeyPair.from_bytes(nacl.secret.SecretBox(_derive(passphrase, salt, params)).decrypt(sealed))
    except nacl.exceptions.CryptoError:
        pass
    if normalize_passphrase(passphrase) != passphrase:
        # A key wrapped before passphrases were normalized, under the form it was typed in then.
        # (Costs one more Argon2 only for a passphrase that NFC changes.)
        raw = passphrase.encode("utf-8")
        if len(raw) <= MAX_PASSPHRASE_BYTES:
            try:
                return KeyPair.from_bytes(nacl.secret.SecretBox(argon2id(raw, salt, params)).decrypt(sealed))
            except nacl.exceptions.CryptoError:
                pass
    raise DecryptionError


def burn_argon2(params: Argon2Params | None = None, passphrase: str = "") -> None:
    """Spend what a failed unwrap with this passphrase costs, so an unknown handle takes as long as a known one."""
    _derive("", bytes(SALT_SIZE), params or Argon2Params())
    if normalize_passphrase(passphrase) != passphrase:  # a failed unwrap also tried the passphrase as typed
        _derive("", bytes(SALT_SIZE), params or Argon2Params())


def new_session_key() -> bytes:
    return nacl.utils.random(KEY_SIZE)


def wrap_with_key(keys: KeyPair, key: bytes) -> bytes:
    """Encrypt keys under a random 32-byte key (a session key)."""
    if len(key) != KEY_SIZE:
        raise KeyFormatError("session key must be 32 bytes")
    box = nacl.secret.SecretBox(key)
    return _SESSION_MAGIC + bytes([_VERSION]) + bytes(box.encrypt(keys.to_bytes()))


def unwrap_with_key(blob: bytes, key: bytes) -> KeyPair:
    """Open a session-wrapped blob; anything wrong raises DecryptionError."""
    if len(key) != KEY_SIZE or blob[:3] != _SESSION_MAGIC + bytes([_VERSION]):
        raise DecryptionError
    try:
        return KeyPair.from_bytes(nacl.secret.SecretBox(key).decrypt(blob[3:]))
    except (nacl.exceptions.CryptoError, KeyFormatError):
        raise DecryptionError from None
