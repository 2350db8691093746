"""Fuzzing the parsers of untrusted bytes: envelopes, wrapped keys, codenames, the decision log.

The one promise each makes: anything malformed raises its CryptoError (the
log: LogError), never another exception, and nothing tampered ever opens.
"""

from __future__ import annotations

import struct
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crypto
from crypto import envelope as envelope_module
from crypto import keys as keys_module
from crypto import log

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEYS = crypto.generate_keypair()
OTHER = crypto.generate_keypair()
RECORD_ID = bytes(range(16))
SEALED = crypto.seal(b"a need", RECORD_ID, "request", [OTHER.box_public, KEYS.box_public])
SESSION_KEY = crypto.new_session_key()
SESSION_BLOB = crypto.wrap_with_key(KEYS, SESSION_KEY)
CHEAP = crypto.Argon2Params(time_cost=1, memory_kib=8, parallelism=1)
PASS_BLOB = crypto.wrap_with_passphrase(KEYS, "a passphrase", CHEAP)
PASS_HEADER = keys_module.PASS_HEADER


def _mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    out = bytearray(data)
    for position, value in edits:
        out[position % len(out)] ^= value or 1
    return bytes(out[:cut] if cut is not None else out)


edits = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4)
cuts = st.none() | st.integers(0, 600)


@FUZZ
@given(st.binary(max_size=2048), st.binary(max_size=40), st.text(max_size=20))
def test_open_envelope_random_bytes(blob: bytes, record_id: bytes, kind: str) -> None:
    try:
        crypto.open_envelope(blob, record_id, kind, KEYS.box_secret)
    except crypto.CryptoError:
        pass
    except UnicodeEncodeError:
        assert not kind.isascii()  # kinds are program constants (ascii), never input
    assert crypto.recipient_count(blob) >= 0


@FUZZ
@given(edits, cuts)
def test_tampered_envelope_never_opens(changes: list[tuple[int, int]], cut: int | None) -> None:
    tampered = _mutate(SEALED, changes, cut)
    try:
        opened = crypto.open_envelope(tampered, RECORD_ID, "request", KEYS.box_secret)
    except crypto.DecryptionError:
        return
    # Another recipient's sealed key is not bound to the body (by design: crypto-shredding
    # deletes sealed keys), so spoiling it leaves ours opening; but never to other content,
    # and our own sealed key, the nonce and the body admit no change at all.
    assert opened == b"a need"
    own = 4 + envelope_module.SEALED_KEY_SIZE
    assert tampered[own:] == SEALED[own:]


@FUZZ
@given(st.binary(max_size=200), edits)
def test_session_blob_unwrap(blob: bytes, changes: list[tuple[int, int]]) -> None:
    for candidate in (blob, _mutate(SESSION_BLOB, changes, None)):
        try:
            opened = crypto.unwrap_with_key(candidate, SESSION_KEY)
        except crypto.DecryptionError:
            continue
        assert candidate == SESSION_BLOB and opened == KEYS


@FUZZ
@given(st.binary(max_size=200).filter(lambda b: not b.startswith(b"AK")), edits,
       st.integers(0, 64), st.integers(0, 4), st.integers(0, 4), st.integers(0, 3))
def test_passphrase_blob_unwrap(blob: bytes, changes: list[tuple[int, int]], memory: int, time_cost: int,
                                lanes: int, version: int) -> None:
    # Headers are fuzzed with small costs only: a header asking for 1 GiB is refused by the
    # bounds check but, when in bounds, really costs that much (blobs come from our own database).
    header = PASS_HEADER.pack(b"AK", version, memory, time_cost, lanes)
    body = PASS_BLOB[PASS_HEADER.size:]
    for candidate in (blob, header + body, PASS_BLOB[:PASS_HEADER.size] + _mutate(body, changes, None)):
        try:
            opened = crypto.unwrap_with_passphrase(candidate, "a passphrase")
        except crypto.CryptoError:
            continue
        assert candidate == PASS_BLOB and opened == KEYS


@FUZZ
@given(st.text(max_size=300))
def test_codenames(text: str) -> None:
    salt = bytes(32)
    try:
        canonical = crypto.normalize_codename(text)
    except crypto.CodenameError:
        try:
            crypto.derive_codename(text, salt)
        except crypto.CodenameError:
            return
        raise AssertionError("derive accepted what normalize refused") from None
    assert crypto.normalize_codename(canonical) == canonical
    assert crypto.derive_codename(text, salt).lookup_hash == crypto.derive_codename(canonical, salt).lookup_hash


def test_generated_codenames_roundtrip() -> None:
    for _ in range(200):
        name = crypto.generate_codename()
        assert crypto.normalize_codename(name.upper().replace(" ", "-")) == name


def test_envelope_padding_frames_are_checked() -> None:
    # A padded body whose length prefix lies must not read past the buffer.
    assert envelope_module.pad(b"x")[:4] == struct.pack(">I", 1)


# the decision log

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def _genesis() -> tuple[list[dict[str, Any]], str]:
    founders = [crypto.generate_keypair() for _ in range(2)]
    members = [{"handle": f"k{i}", "box": k.box_public.hex(), "sign": k.sign_public.hex(), "until": None}
               for i, k in enumerate(founders)]
    proposal = {"id": "00" * 16, "type": "genesis", "body": {"members": members, "quorum": 2}, "day": 100}
    signatures = [log.sign_proposal(proposal, k.sign_seed) for k in founders]
    record = log.new_record(log.LogState(), proposal, signatures, 100)
    log.verify([record])
    return [record], log.digest(record)


GENESIS, GENESIS_HASH = _genesis()


@FUZZ
@given(st.lists(json_values, max_size=3))
def test_log_random_records(records: list[Any]) -> None:
    try:
        log.verify(records)
    except log.LogError:
        pass


def _replace_path(value: Any, path: list[int], new: Any) -> Any:
    """value with the node chosen by path (indices into keys/items) replaced by new."""
    if not path or not isinstance(value, dict | list) or not value:
        return new
    if isinstance(value, dict):
        keys = sorted(value)
        key = keys[path[0] % len(keys)]
        return {**value, key: _replace_path(value[key], path[1:], new)}
    index = path[0] % len(value)
    return [*value[:index], _replace_path(value[index], path[1:], new), *value[index + 1:]]


@FUZZ
@given(st.lists(st.integers(0, 20), max_size=6), json_values)
def test_log_mutated_genesis(path: list[int], new: Any) -> None:
    mutated = _replace_path(GENESIS[0], path, new)
    try:
        state = log.verify([mutated], GENESIS_HASH)
    except log.LogError:
        return
    assert log.digest(mutated) == GENESIS_HASH and state.quorum == 2


FOUNDERS: list[crypto.KeyPair] = []


@FUZZ
@given(st.sampled_from(["add_member", "remove_member", "rotate_key", "set_quorum", "renew_member",
                        "allocation", "distribution", "dispute", "resolution", "nonsense"]),
       st.dictionaries(st.sampled_from(["member", "sign", "old_sign", "quorum", "until", "allocation",
                                        "decision", "dispute", "members"]), json_values, max_size=4),
       st.integers(0, 2))
def test_log_signed_record_with_fuzzed_body(kind: str, body: dict[str, Any], signers: int) -> None:
    """A record signed by real members, so the fuzzed body reaches the code that applies it."""
    founders = [crypto.generate_keypair() for _ in range(2)] if not FOUNDERS else FOUNDERS
    FOUNDERS[:] = founders
    members = [{"handle": f"k{i}", "box": k.box_public.hex(), "sign": k.sign_public.hex(), "until": None}
               for i, k in enumerate(founders)]
    genesis = {"id": "00" * 16, "type": "genesis", "body": {"members": members, "quorum": 1}, "day": 100}
    state = log.LogState()
    first = log.new_record(state, genesis, [log.sign_proposal(genesis, k.sign_seed) for k in founders], 100)
    state = log.apply(state, first)
    proposal = {"id": "11" * 16, "type": kind, "body": body, "day": 101}
    record = log.new_record(state, proposal, [log.sign_proposal(proposal, k.sign_seed, state) for k in founders[:signers]],
                            101)
    try:
        log.verify([first, record])
    except log.LogError:
        pass
