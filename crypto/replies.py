"""Replies to a requester: written by a member, signed with the member's key, sealed with its signature inside.

The signature covers the request, the reply's own id, the text, the author's
handle and key, and the day, so a reply cannot be moved to another request,
reworded or given another author. A requester's page shows a reply only if
its signature verifies and its author is a current member of the verified
log: an account the operator just added, a removed member, or a database
writer cannot post "The coordinators wrote: ...".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.signing

from . import strictjson
from .errors import CryptoError
from .keys import KeyPair

REPLY_CONTEXT = b"aidnet-reply-v1\x00"
KIND_REPLY = "reply"


@dataclass(frozen=True, repr=False)
class Reply:
    text: str
    handle: str
    by: str  # the author's signing key, hex
    day: int
    sig: str

    def __repr__(self) -> str:  # never let personal content into a traceback
        return f"Reply(by={self.handle}, <sealed>)"


def _message(request_id: bytes, reply_id: bytes, text: str, handle: str, by: str, day: int) -> bytes:
    fields = json.dumps([request_id.hex(), reply_id.hex(), text, handle, by, day], ensure_ascii=False,
                        separators=(",", ":"))
    return REPLY_CONTEXT + fields.encode("utf-8")


def signed_payload(keys: KeyPair, handle: str, request_id: bytes, reply_id: bytes, text: str, day: int) -> bytes:
    """What a reply envelope holds: the text, who wrote it and when, and their signature over all of it."""
    by = keys.sign_public.hex()
    sig = nacl.signing.SigningKey(keys.sign_seed).sign(_message(request_id, reply_id, text, handle, by, day)).signature
    return json.dumps({"v": 2, "text": text, "handle": handle, "by": by, "day": day, "sig": sig.hex()},
                      ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def read_payload(payload: bytes, request_id: bytes, reply_id: bytes) -> Reply | None:
    """The reply, if the payload is a signed reply whose signature holds for this request and id; else None."""
    try:
        data: Any = strictjson.loads(payload)
    except CryptoError:
        return None
    if not isinstance(data, dict) or data.get("v") != 2:
        return None
    text, handle, by, day, sig = (data.get(k) for k in ("text", "handle", "by", "day", "sig"))
    if not (isinstance(text, str) and isinstance(handle, str) and isinstance(by, str) and isinstance(sig, str)
            and isinstance(day, int) and not isinstance(day, bool)):
        return None
    try:
        nacl.signing.VerifyKey(bytes.fromhex(by)).verify(_message(request_id, reply_id, text, handle, by, day),
                                                          bytes.fromhex(sig))
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        return None
    return Reply(text, handle, by, day, sig)
