"""Every failure in crypto/ is a CryptoError; callers catch that one base."""

from __future__ import annotations


class CryptoError(Exception):
    """Base of every error raised by crypto/."""


class DecryptionError(CryptoError):
    """An envelope or wrapped key did not open.

    Deliberately opaque: tampering, a wrong key, a moved record and a truncated
    blob all look the same, so the error tells an attacker nothing.
    """


class KeyFormatError(CryptoError):
    """A key or wrapped-key blob has the wrong length or version."""


class CodenameError(CryptoError):
    """A codename is not well formed (wrong letters or length)."""
