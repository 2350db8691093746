"""Edges of crypto/ that a mutation run found unpinned: known answers, bounds, and malformed input.

The known answers below were made once, by the code of this commit, from fixed keys (Ed25519 and the
BLAKE2b labels are deterministic). If one fails, every card, reply, note and log signature already
stored would stop verifying: change the code, not the answer.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import nacl.secret
import pytest

import crypto
from crypto import cards, keys, log, notes, replies, strictjson
from crypto.log import LogState, sign_proposal

ANA = crypto.KeyPair(bytes(range(32)), bytes(range(32, 64)))
ANA_NEXT = crypto.KeyPair(bytes(range(64, 96)), bytes(range(96, 128)))
ANA_BOX = "8f40c5adb68f25624ae5b214ea767a6ec94d829d3d7b5e1ad1ba6f3e2138285f"
ANA_SIGN = "29acbae141bccaf0b22e1a94d34d0bc7361e526d0bfe12c89794bc9322966dd7"
ANA_CARD_SIG = ("3eaba306ac496c06770a78c027d7a0c10e62a433ab7c2b240172ca8a5f154e45"
                "6885e8fd451adac71d220e1c9ebe9f544e403bfcf7aa539fda4e13e1af173d05")
CHEAP = crypto.Argon2Params(time_cost=1, memory_kib=8, parallelism=1)


# --- known answers ----------------------------------------------------------------------------------------


def test_a_card_made_from_fixed_keys_reads_the_same_forever() -> None:
    card = cards.make_card("ana", ANA)
    assert card.to_text() == f"aidnet-member:2:ana:{ANA_BOX}:{ANA_SIGN}:{ANA_CARD_SIG}"
    assert card.fingerprint == "215e c03d 4eec adbe ecfb eaa9 7237 461d"
    assert cards.parse_card(card.to_text()) == card


def test_a_rotation_signature_from_fixed_keys_reads_the_same_forever() -> None:
    new = cards.make_card("ana", ANA_NEXT)
    sig = cards.rotation_signature(ANA, new)
    assert sig == ("53eadb92a2534f94b394f6b9147b15d14a3e0d1b4eabc192288896f06bb513b5"
                   "035e1cb18d78a74a3aee629103e2fab2e658ee36dc59e4d28c2cd6fff6fdd209")
    assert cards.rotation_signature_valid(ANA_SIGN, new, sig)
    assert not cards.rotation_signature_valid(new.sign, new, sig)  # another old key


def test_a_note_hash_reads_the_same_forever() -> None:
    assert notes.note_hash(b"a sealed note") == "c05af6103778aba76bd136e2adc21dafe707d5980e338e5795cfc2ea2b21adba"


def test_a_signed_reply_reads_the_same_forever_and_keeps_its_accents() -> None:
    request, reply = bytes(16), bytes([1]) * 16
    payload = replies.signed_payload(ANA, "ana", request, reply, "Pick-up at 12 Elm St, café", 7)
    assert payload.decode("utf-8") == (
        '{"v":2,"text":"Pick-up at 12 Elm St, café","handle":"ana","by":"' + ANA_SIGN + '","day":7,"sig":"'
        "24c7edd8d5fdb04edf61d71594446c6e737abb5dfc606c38bf332a3d1d3e3673"
        'b8de750d890e7a0d8adc91375c5d40f7cae144080469faabcfbaa668e8c7d10b"}')
    read = replies.read_payload(payload, request, reply)
    assert read is not None and (read.text, read.handle, read.by, read.day) == (
        "Pick-up at 12 Elm St, café", "ana", ANA_SIGN, 7)
    assert read.sig == strictjson.loads(payload)["sig"]


def test_log_signatures_and_seals_from_fixed_keys_read_the_same_forever() -> None:
    proposal = {"id": "ab" * 16, "type": "set_quorum", "body": {"quorum": 1}, "day": 101, "by": ANA_SIGN}
    assert log.digest(proposal) == "0194bc43a5725d75e7b49ecd1df546a1bdce2185edf29c594aeb11f675798b0d"
    state = LogState(seq=0, genesis="11" * 32, head="22" * 32, hashes=frozenset({"22" * 32}))
    assert sign_proposal(proposal, ANA.sign_seed, state, today=101) == {
        "signer": ANA_SIGN, "seen": "22" * 32, "until": 131,
        "sig": "39871a3b3ff071707f15cae125bf79dda6070c3cba0a4f3615d3f940326fa2f9"
               "71a980cc8fd49203207ec651c2a5455bb5945297c65e2d88aa41479f72eb1609"}
    assert sign_proposal(proposal, ANA.sign_seed)["sig"] == (
        "57197137fff6a93d173f8e835e27edf2d6a1ae88da445bce81922f69208850b2"
        "fb4afda2da127d5ce51642cd1e05ea4216cfdfd87032b759885d43f89d750100")
    record = {"seq": 1, "prev": "22" * 32, "day": 101, "proposal": proposal, "signatures": []}
    seal = log.seal_record(record, "11" * 32, ANA.sign_seed)
    assert seal == {"signer": ANA_SIGN, "sig": "15d66ad71c7b2f242bc25ff54e4c4a22345650e63b6ae5a05e5eb09350d848d2"
                                               "d7a0a00b7848267ae425b441fab8842e9f011220e72b1805515f60ede76a2c03"}
    sealed = {**record, "seal": seal}
    assert log.seal_valid(sealed, "11" * 32)  # the proposal's digest worked out here, not passed in
    assert log.seal_valid(sealed, "11" * 32, bytes.fromhex(log.digest(proposal)))
    assert not log.seal_valid({**sealed, "proposal": {**proposal, "day": 102}}, "11" * 32)
    assert not log.seal_valid({**sealed, "seal": {**seal, "sig": "00" * 64}}, "11" * 32)


def test_a_member_as_json_keeps_every_field_and_its_card() -> None:
    with_card = log.Member("ana", ANA_BOX, ANA_SIGN, 200, ANA_CARD_SIG)
    assert with_card.to_json() == {"handle": "ana", "box": ANA_BOX, "sign": ANA_SIGN, "until": 200,
                                   "card_sig": ANA_CARD_SIG}
    assert log.Member("ana", ANA_BOX, ANA_SIGN).to_json() == {"handle": "ana", "box": ANA_BOX, "sign": ANA_SIGN,
                                                              "until": None}
    assert with_card.active(200) and not with_card.active(201)


# --- cards: every malformed field through every entry point ---------------------------------------------


@pytest.mark.parametrize("field,value", [
    ("handle", 5), ("handle", "not a handle!"), ("box", 5), ("box", "zz" * 32), ("sign", 5), ("sign", "zz" * 32),
    ("sig", 5), ("sig", "zz" * 64), ("sig", "00" * 63),
])
def test_a_card_with_any_field_malformed_is_never_valid(field: str, value: Any) -> None:
    fields = {"handle": "ana", "box": ANA_BOX, "sign": ANA_SIGN, "sig": ANA_CARD_SIG}
    assert cards.card_signature_valid(**fields)
    fields[field] = value
    assert not cards.card_signature_valid(**fields)
    with pytest.raises(cards.CardError):
        cards.verified(cards.Card(**fields))


def test_a_well_formed_card_signed_by_another_key_is_refused() -> None:
    other = cards.make_card("ana", ANA_NEXT)
    assert not cards.card_signature_valid("ana", ANA_BOX, ANA_SIGN, other.sig)
    assert not cards.card_signature_valid("ana", other.box, ANA_SIGN, ANA_CARD_SIG)  # a swapped reading key


@pytest.mark.parametrize("sig", [5, None, "zz" * 64, "00" * 63, "00" * 64])
def test_a_malformed_or_wrong_rotation_signature_is_never_valid(sig: Any) -> None:
    new = cards.make_card("ana", ANA_NEXT)
    assert not cards.rotation_signature_valid(ANA_SIGN, new, sig)


def test_a_rotation_naming_a_malformed_old_key_is_never_valid() -> None:
    new = cards.make_card("ana", ANA_NEXT)
    sig = cards.rotation_signature(ANA, new)
    assert not cards.rotation_signature_valid(ANA_SIGN[:-1] + "z", new, sig)


# --- strict JSON's depth ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text,deepest", [
    ("1", 0), ("[]", 1), ("[[]][]", 2), ('{"a":[{}]}', 3), ("[[],[[]]]", 3), ('["[[[", "{{"]', 1),
    ('["\\"[[", "]"]', 1), ('["\\\\", []]', 2), ('[[]] [[]]', 2), ('"["', 0),
])
def test_depth_counts_only_brackets_outside_strings(text: str, deepest: int) -> None:
    assert strictjson.depth(text) == deepest


def test_strict_json_refuses_one_level_too_deep_and_reads_the_level_allowed() -> None:
    assert strictjson.loads("[" * 32 + "]" * 32) is not None
    with pytest.raises(strictjson.StrictJSONError):
        strictjson.loads("[" * 33 + "]" * 33)
    assert strictjson.loads('["a]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", ' + "[" * 30 + "]" * 30 + "]")[0].startswith("a")


def test_strict_json_reads_utf8_bytes_and_refuses_more_than_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    assert strictjson.loads('["café"]'.encode()) == ["café"]
    monkeypatch.setattr(strictjson, "MAX_BYTES", 4)
    assert strictjson.loads("[12]") == [12]
    with pytest.raises(strictjson.StrictJSONError):
        strictjson.loads("[123]")


# --- passphrase-wrapped keys: the bounds --------------------------------------------------------------------


def test_a_passphrase_of_exactly_the_limit_wraps_and_opens_and_one_byte_more_is_refused() -> None:
    longest = "a" * keys.MAX_PASSPHRASE_BYTES
    blob = crypto.wrap_with_passphrase(ANA, longest, CHEAP)
    assert crypto.unwrap_with_passphrase(blob, longest).to_bytes() == ANA.to_bytes()
    with pytest.raises(crypto.KeyFormatError):
        crypto.wrap_with_passphrase(ANA, longest + "a", CHEAP)
    with pytest.raises(crypto.DecryptionError):
        crypto.unwrap_with_passphrase(blob, longest + "a")


def test_a_key_wrapped_before_normalisation_opens_at_exactly_the_length_limit() -> None:
    typed = unicodedata.normalize("NFD", "é") * (keys.MAX_PASSPHRASE_BYTES // 3)  # e + accent: 3 bytes each
    typed += "a" * (keys.MAX_PASSPHRASE_BYTES - len(typed.encode()))
    assert len(typed.encode()) == keys.MAX_PASSPHRASE_BYTES and keys.normalize_passphrase(typed) != typed
    salt = bytes(range(16))
    header = keys.PASS_HEADER.pack(b"AK", 1, CHEAP.memory_kib, CHEAP.time_cost, CHEAP.parallelism)
    legacy = header + salt + bytes(nacl.secret.SecretBox(keys.argon2id(typed.encode(), salt, CHEAP))
                                   .encrypt(ANA.to_bytes()))
    assert crypto.unwrap_with_passphrase(legacy, typed).to_bytes() == ANA.to_bytes()


def test_a_blob_of_only_a_header_and_salt_is_read_and_fails_to_open() -> None:
    header = keys.PASS_HEADER.pack(b"AK", 1, 8, 1, 1)
    with pytest.raises(crypto.DecryptionError):
        crypto.unwrap_with_passphrase(header + bytes(16), "anything")


def test_a_blob_at_the_highest_costs_allowed_is_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    tried: list[keys.Argon2Params] = []

    def fake(secret: bytes, salt: bytes, params: keys.Argon2Params, length: int = 32) -> bytes:
        tried.append(params)
        return bytes(32)

    monkeypatch.setattr(keys, "argon2id", fake)
    header = keys.PASS_HEADER.pack(b"AK", 1, keys.ARGON2_MAX_MEMORY_KIB, keys.ARGON2_MAX_TIME_COST, 16)
    with pytest.raises(crypto.DecryptionError):
        crypto.unwrap_with_passphrase(header + bytes(16 + 80), "anything")
    assert tried == [keys.Argon2Params(keys.ARGON2_MAX_TIME_COST, keys.ARGON2_MAX_MEMORY_KIB, 16)]


def test_wrapping_without_params_uses_the_rfc_9106_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    tried: list[keys.Argon2Params] = []

    def fake(secret: bytes, salt: bytes, params: keys.Argon2Params, length: int = 32) -> bytes:
        tried.append(params)
        return bytes(32)

    monkeypatch.setattr(keys, "argon2id", fake)
    blob = crypto.wrap_with_passphrase(ANA, "pass")
    assert tried == [keys.Argon2Params()]
    assert keys.PASS_HEADER.unpack(blob[:keys.PASS_HEADER.size]) == (b"AK", 1, 64 * 1024, 3, 4)


def test_burning_argon2_costs_what_a_failed_unwrap_costs(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes, keys.Argon2Params]] = []

    def fake(secret: bytes, salt: bytes, params: keys.Argon2Params, length: int = 32) -> bytes:
        calls.append((secret, salt, params))
        return bytes(32)

    monkeypatch.setattr(keys, "argon2id", fake)
    crypto.burn_argon2(CHEAP)
    assert calls == [(b"", bytes(16), CHEAP)]
    calls.clear()
    crypto.burn_argon2(CHEAP, unicodedata.normalize("NFD", "café"))  # an unwrap would try it twice
    assert calls == [(b"", bytes(16), CHEAP)] * 2
    calls.clear()
    crypto.burn_argon2(passphrase=unicodedata.normalize("NFD", "café"))
    assert calls == [(b"", bytes(16), keys.Argon2Params())] * 2


def test_a_session_blob_needs_its_magic_even_around_a_good_ciphertext() -> None:
    key = crypto.new_session_key()
    blob = crypto.wrap_with_key(ANA, key)
    assert crypto.unwrap_with_key(blob, key).to_bytes() == ANA.to_bytes()
    for bad in (b"XS" + blob[2:], blob[:2] + b"\x02" + blob[3:]):
        with pytest.raises(crypto.DecryptionError):
            crypto.unwrap_with_key(bad, key)
    with pytest.raises(crypto.DecryptionError):
        crypto.unwrap_with_key(blob, key[:31])
