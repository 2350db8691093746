"""An offline bundle's signature: one member's Ed25519 signature over the whole bundle, expiry day included.

The bundle is signed in canonical JSON (crypto.log.canonical) under its own
context, so the signature cannot be taken for a decision's or a seal's. Any
change to what is signed (an expiry day moved, a sealed record swapped, a
pending decision added) makes bundle_signer refuse it. Who may sign (a member
of the bundle's own log) is the caller's check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import nacl.exceptions
import nacl.signing

from .errors import CryptoError
from .log import canonical

CONTEXT = b"aidnet-bundle-3\n"
SIGNATURE_FIELD = "signed"


class BundleSignatureError(CryptoError):
    """The bundle's signature is missing, malformed, or does not hold for what the bundle now says."""


def _message(bundle: Mapping[str, Any]) -> bytes:
    return CONTEXT + canonical({k: v for k, v in bundle.items() if k != SIGNATURE_FIELD})


def sign_bundle(bundle: Mapping[str, Any], sign_seed: bytes) -> dict[str, Any]:
    """The bundle with its signature added: {..., "signed": {"signer", "sig"}} (every other field covered)."""
    key = nacl.signing.SigningKey(sign_seed)
    signature = key.sign(_message(bundle)).signature
    return {**bundle, SIGNATURE_FIELD: {"signer": bytes(key.verify_key).hex(), "sig": signature.hex()}}


def bundle_signer(bundle: Mapping[str, Any]) -> str:
    """The signing key (hex) whose signature holds over this bundle as it is; BundleSignatureError otherwise."""
    signed = bundle.get(SIGNATURE_FIELD)
    try:
        signer, sig = bytes.fromhex(signed["signer"]), bytes.fromhex(signed["sig"])  # type: ignore[index]
        if len(signer) != 32 or len(sig) != 64:
            raise ValueError
        nacl.signing.VerifyKey(signer).verify(_message(bundle), sig)
    except (TypeError, KeyError, ValueError, nacl.exceptions.BadSignatureError, CryptoError):
        raise BundleSignatureError("the bundle's signature does not hold") from None
    return signer.hex()
