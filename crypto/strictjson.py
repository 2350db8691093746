"""Strict JSON for everything that is signed or verified: one meaning per text, or an error.

Python's json accepts what a verifier must not: a key given twice (the last
one wins, so `"quorum":3,"quorum":2` reads as 2 to one program and 3 to
another), floats, NaN and Infinity, and nesting deep enough to exhaust the
stack (RecursionError, a crash instead of an answer). loads() refuses all of
them with StrictJSONError, a CryptoError, whose message is one line.
Booleans where integers are meant are the schema's to refuse
(crypto.logschema), since True is an int to Python.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import CryptoError

MAX_DEPTH = 32
MAX_BYTES = 64 * 1024 * 1024


class StrictJSONError(CryptoError):
    """The text is not strict JSON: malformed, a duplicate key, a float, or nested too deep."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise StrictJSONError(f"a key appears twice: {key[:40]!r}")
        found[key] = value
    return found


def _no_float(text: str) -> Any:
    raise StrictJSONError("numbers must be whole (no fractions or exponents)")


def _no_constant(text: str) -> Any:
    raise StrictJSONError(f"{text} is not a JSON number")


def depth(text: str) -> int:
    """The deepest nesting of arrays and objects in text (strings skipped), without parsing it."""
    deepest = level = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            level += 1
            deepest = max(deepest, level)
        elif char in "]}":
            level -= 1
    return deepest


def loads(data: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """The value of strict JSON text; StrictJSONError with a one-line reason otherwise."""
    if len(data) > MAX_BYTES:
        raise StrictJSONError("too large")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise StrictJSONError("not UTF-8") from None
    if depth(text) > max_depth:
        raise StrictJSONError(f"nested more than {max_depth} deep")
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_float=_no_float, parse_constant=_no_constant)
    except StrictJSONError:
        raise
    except (ValueError, RecursionError) as exc:
        raise StrictJSONError(f"not JSON ({type(exc).__name__})") from None
