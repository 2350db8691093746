"""Optional second factor for coordinator login: TOTP (RFC 6238) plus recovery codes.

Where the secret lives: sealed (crypto.seal) to the coordinator's own X25519
public key, bound to their account id. The server opens it only at login,
right after the passphrase has unwrapped the private key, and forgets it when
the request ends. A copy of the database alone therefore yields no TOTP
secret; whoever could open it (database + passphrase) already holds the
coordinator's keys, which is more than the second factor guards. What the
second factor adds: a passphrase seen over a shoulder, phished or reused
elsewhere is not enough to log in without the phone.

Codes are compared in constant time over the whole ±1 step window; a step
once accepted never works again (replay). Recovery codes (60 bits each) are
hashed with Argon2id under one per-coordinator salt, so a guess costs one
Argon2id call whatever the number of codes; a used code is deleted.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

import pyotp
import segno

import crypto
from crypto import Argon2Params, KeyPair
from crypto.keys import argon2id

from ..config import Settings
from ..errors import Refused
from ..store import Store
from ..store import second_factor as factor_rows
from ..store.second_factor import SecondFactorRow

DIGITS = 6
STEP_SECONDS = 30
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o, 1/l: read aloud, typed from paper
_RECOVERY_LENGTH = 12  # 12 × 5 bits = 60 bits
_KIND = "totp"


class WrongCode(Refused):
    """A missing, wrong, reused or expired second-factor code (one error for all)."""

    reason = "that code does not match, or it was used already"


@dataclass(frozen=True, repr=False)
class Enrolment:
    """A secret being set up: shown once, confirmed by a code before it is kept."""

    secret: str
    sealed: bytes  # the same secret sealed to the coordinator, to carry between two pages

    def __repr__(self) -> str:
        return "Enrolment(<secret>)"

    def uri(self, handle: str, issuer: str = "aidnet") -> str:
        return pyotp.TOTP(self.secret).provisioning_uri(name=handle, issuer_name=issuer)


def _record_id(coordinator_id: int) -> bytes:
    return b"second-factor:" + str(coordinator_id).encode("ascii")


def _step(now: float) -> int:
    return int(now // STEP_SECONDS)


def matching_step(secret: str, code: str, now: float) -> int | None:
    """The step in the ±1 window whose code equals code; every candidate is compared, in constant time."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    wanted = code.encode("ascii", "replace")
    found = None
    for step in (_step(now) - 1, _step(now), _step(now) + 1):
        if hmac.compare_digest(totp.generate_otp(step).encode("ascii"), wanted):
            found = step
    return found


def normalize_recovery(code: str) -> str:
    return "".join(c for c in code.lower() if c.isalnum())[: 4 * _RECOVERY_LENGTH]


def _params_text(settings: Settings) -> str:
    a = settings.argon2
    return f"{a.time_cost},{a.memory_kib},{a.parallelism}"


def _hash_recovery(code: str, salt: bytes, params: str) -> bytes:
    time_cost, memory_kib, lanes = (int(x) for x in params.split(","))
    return argon2id(normalize_recovery(code).encode("ascii", "replace"), salt,
                    Argon2Params(time_cost=time_cost, memory_kib=memory_kib, parallelism=lanes), length=32)


def is_on(store: Store, coordinator_id: int) -> bool:
    return factor_rows.second_factor(store, coordinator_id) is not None


def recovery_left(store: Store, coordinator_id: int) -> int:
    return len(factor_rows.recovery_hashes(store, coordinator_id))


def begin(coordinator_id: int, box_public: bytes) -> Enrolment:
    secret = pyotp.random_base32()
    return Enrolment(secret, crypto.seal(secret.encode("ascii"), _record_id(coordinator_id), _KIND, [box_public]))


def resume_enrolment(coordinator_id: int, keys: KeyPair, sealed: bytes) -> Enrolment:
    """Reopen an enrolment carried in a form; WrongCode if it was tampered with or is someone else's."""
    try:
        secret = crypto.open_envelope(sealed, _record_id(coordinator_id), _KIND, keys.box_secret).decode("ascii")
    except (crypto.CryptoError, UnicodeDecodeError):
        raise WrongCode from None
    return Enrolment(secret, sealed)


def confirm(store: Store, settings: Settings, coordinator_id: int, enrolment: Enrolment, code: str,
            now: float | None = None) -> list[str]:
    """Keep the secret if code proves the app has it; returns the recovery codes (shown once)."""
    step = matching_step(enrolment.secret, code.strip(), time.time() if now is None else now)
    if step is None:
        raise WrongCode
    codes = ["".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
             for _ in range(RECOVERY_CODES)]
    salt = secrets.token_bytes(16)
    params = _params_text(settings)
    hashes = [_hash_recovery(c, salt, params) for c in codes]
    row = SecondFactorRow(coordinator_id, enrolment.sealed, step, salt, params)
    with store.write() as tx:
        factor_rows.put_second_factor(tx, row, hashes)
    return ["-".join(c[i:i + 4] for i in range(0, _RECOVERY_LENGTH, 4)) for c in codes]


def check(store: Store, coordinator_id: int, keys: KeyPair, code: str, now: float | None = None) -> None:
    """Pass if the second factor is off, or code is a fresh TOTP code or an unused recovery code.

    Called only after the passphrase has unwrapped keys. Raises WrongCode otherwise.
    """
    row = factor_rows.second_factor(store, coordinator_id)
    if row is None:
        return
    code = code.strip().replace(" ", "")
    if not code:
        raise WrongCode
    if code.isdigit() and len(code) == DIGITS:
        secret = resume_enrolment(coordinator_id, keys, row.sealed_secret).secret
        step = matching_step(secret, code, time.time() if now is None else now)
        with store.write() as tx:
            if step is None or not factor_rows.advance_step(tx, coordinator_id, step):
                raise WrongCode
        return
    candidate = _hash_recovery(code, row.recovery_salt, row.recovery_params)
    match = None
    for stored in factor_rows.recovery_hashes(store, coordinator_id):
        if hmac.compare_digest(stored, candidate):
            match = stored
    with store.write() as tx:
        if match is None or not factor_rows.use_recovery_code(tx, coordinator_id, match):
            raise WrongCode


def turn_off(store: Store, coordinator_id: int) -> None:
    with store.write() as tx:
        factor_rows.delete_second_factor(tx, coordinator_id)


def burn_recovery_cost(settings: Settings, code: str) -> None:
    """After a wrong passphrase, spend what checking code as a recovery code would have cost.

    Otherwise a right passphrase followed by a wrong recovery code would take
    one Argon2id call longer than a wrong passphrase, and tell them apart.
    """
    code = code.strip().replace(" ", "")
    if code and not (code.isdigit() and len(code) == DIGITS):
        _hash_recovery(code, bytes(16), _params_text(settings))


def qr_rows(uri: str) -> list[list[bool]]:
    """The QR code of uri as rows of modules (True = dark): drawn as an HTML table, no image, no script."""
    return [[bool(cell) for cell in line] for line in segno.make(uri, error="m").matrix]
