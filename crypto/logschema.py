"""What each kind of decision may hold: fixed keys, typed values, and no room for clear text.

Record ids are 32 lowercase hex; keys 64 lowercase hex; a note is the hash
(64 hex) of a sealed envelope kept outside the log, so it can be erased with
its request; a decision cannot carry a name or an address in clear even if a
quorum signed one. The one exception is an impact update: a short text written
to be published, so it is in the log in clear, bounded in length and languages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import CryptoError

_HEX32 = re.compile(r"[0-9a-f]{32}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")
HANDLE = re.compile(r"[A-Za-z0-9_-]{1,40}")
LANGUAGE = re.compile(r"[a-z]{2,3}")
# An impact update: one public text per language, each at most this many characters, in at most this many.
IMPACT_TEXT_MAX = 600
IMPACT_LANGUAGES_MAX = 8
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")

BODY_KEYS: dict[str, set[str]] = {
    "genesis": {"members", "quorum", "sealed"},
    "add_member": {"member"},
    "remove_member": {"sign"},
    "rotate_key": {"old_sign", "member", "old_sig"},
    "set_quorum": {"quorum"},
    "renew_member": {"sign", "until"},
    "allocation": {"request", "source", "note"},
    "distribution": {"request", "allocation", "note"},
    "dispute": {"decision", "note", "raised_by", "request"},
    "resolution": {"dispute", "outcome", "note"},
    "impact_update": {"texts"},
}


class SchemaError(CryptoError):
    """A decision holds a field it may not, or a value of the wrong shape."""


def is_key(value: Any) -> bool:
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def is_id(value: Any) -> bool:
    return isinstance(value, str) and _HEX32.fullmatch(value) is not None


def _day_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**6)


def is_signature(value: Any) -> bool:
    return isinstance(value, str) and _HEX128.fullmatch(value) is not None


def check_member(data: Any) -> None:
    """A member as a decision carries it: handle, keys, term, and (from this version on) the card's signature."""
    if not isinstance(data, Mapping) or set(data) not in ({"handle", "box", "sign", "until"},
                                                          {"handle", "box", "sign", "until", "card_sig"}):
        raise SchemaError("malformed member")
    if "card_sig" in data and not is_signature(data["card_sig"]):
        raise SchemaError("malformed member card signature")
    if not (isinstance(data["handle"], str) and HANDLE.fullmatch(data["handle"])):
        raise SchemaError("malformed member handle")
    if not (is_key(data["box"]) and is_key(data["sign"]) and _day_or_none(data["until"])):
        raise SchemaError("malformed member keys or term")


def check_impact_texts(texts: Any) -> None:
    """One to IMPACT_LANGUAGES_MAX texts by language code, each 1 to IMPACT_TEXT_MAX characters, no control
    characters but newlines: public by nature, so the only clear text a decision may carry."""
    if not isinstance(texts, Mapping) or not 1 <= len(texts) <= IMPACT_LANGUAGES_MAX:
        raise SchemaError("an impact update needs one text per language, in at most 8 languages")
    for language, text in texts.items():
        if not (isinstance(language, str) and LANGUAGE.fullmatch(language)):
            raise SchemaError("malformed language code")
        if not isinstance(text, str) or not text.strip() or len(text) > IMPACT_TEXT_MAX or _CONTROL.search(text):
            raise SchemaError(f"an impact text is 1 to {IMPACT_TEXT_MAX} characters, without control characters")


def _note(value: Any) -> None:
    if value is not None and not is_key(value):
        raise SchemaError("a note must be the hash of a sealed note")


def check_body(kind: str, body: Any) -> None:
    """SchemaError unless body has exactly the shape decisions of this kind may have."""
    allowed = BODY_KEYS.get(kind)
    if allowed is None or not isinstance(body, Mapping) or not set(body) <= allowed:
        raise SchemaError("unexpected fields")
    _note(body.get("note"))
    if kind in ("add_member", "rotate_key"):
        check_member(body.get("member"))
    if kind in ("remove_member", "renew_member") and not is_key(body.get("sign")):
        raise SchemaError("malformed member key")
    if kind == "rotate_key" and (not is_key(body.get("old_sign")) or ("old_sig" in body and not is_signature(body["old_sig"]))):
        raise SchemaError("malformed member key")
    if kind == "genesis":
        if not isinstance(body.get("members"), list) or type(body.get("sealed", False)) is not bool:
            raise SchemaError("malformed genesis")
        for member in body["members"]:
            check_member(member)
        if not isinstance(body.get("quorum"), int) or isinstance(body.get("quorum"), bool):
            raise SchemaError("malformed quorum")
    if kind == "renew_member" and not _day_or_none(body.get("until")):
        raise SchemaError("malformed term")
    if kind == "set_quorum" and (not isinstance(body.get("quorum"), int) or isinstance(body.get("quorum"), bool)):
        raise SchemaError("malformed quorum")
    if kind in ("allocation", "distribution") and not is_id(body.get("request")):
        raise SchemaError("malformed request id")
    if kind == "allocation":
        source = body.get("source")
        if not isinstance(source, Mapping) or not set(source) <= {"kind", "ref", "amount"}:
            raise SchemaError("malformed source")
        amount = source.get("amount")
        if source.get("kind") not in ("offer", "stock", "money") or not (source.get("ref") is None or is_id(source["ref"])):
            raise SchemaError("malformed source")
        if amount is not None and (not isinstance(amount, int) or isinstance(amount, bool) or amount < 1):
            raise SchemaError("malformed amount")
    if kind == "distribution" and not is_id(body.get("allocation")):
        raise SchemaError("malformed allocation id")
    if kind == "dispute":
        if not is_id(body.get("decision")) or body.get("raised_by", "keyholder") not in ("keyholder", "requester"):
            raise SchemaError("malformed dispute")
        if "request" in body and not is_id(body["request"]):
            raise SchemaError("malformed request id")
    if kind == "impact_update":
        check_impact_texts(body.get("texts"))
    if kind == "resolution" and (not is_id(body.get("dispute")) or body.get("outcome") not in ("upheld", "overturned")):
        raise SchemaError("malformed resolution")
