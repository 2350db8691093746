"""Edges of crypto/ that a mutation run found unpinned: known answers, bounds, and malformed input.

The known answers below were made once, by the code of this commit, from fixed keys (Ed25519 and the
BLAKE2b labels are deterministic). If one fails, every card, reply, note and log signature already
stored would stop verifying: change the code, not the answer.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import unicodedata
from typing import Any

import nacl.secret
import nacl.signing
import pytest

import crypto
from crypto import cards, envelope, keys, log, logschema, notes, periods, replies, strictjson
from crypto.log import LogError, LogState, apply, member_entry, new_record, sign_proposal

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


def _argon2_stand_in(monkeypatch: pytest.MonkeyPatch) -> list[keys.Argon2Params]:
    """Argon2 replaced by a stand-in that records the parameters it was asked for (no real cost paid)."""
    tried: list[keys.Argon2Params] = []

    def fake(secret: bytes, salt: bytes, params: keys.Argon2Params, length: int = 32) -> bytes:
        tried.append(params)
        return bytes(32)

    monkeypatch.setattr(keys, "argon2id", fake)
    return tried


def test_a_blob_at_the_highest_costs_allowed_is_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    tried = _argon2_stand_in(monkeypatch)
    header = keys.PASS_HEADER.pack(b"AK", 1, keys.ARGON2_MAX_MEMORY_KIB, keys.ARGON2_MAX_TIME_COST, 16)
    with pytest.raises(crypto.DecryptionError):
        crypto.unwrap_with_passphrase(header + bytes(16 + 80), "anything")
    assert tried == [keys.Argon2Params(keys.ARGON2_MAX_TIME_COST, keys.ARGON2_MAX_MEMORY_KIB, 16)]


def test_wrapping_without_params_uses_the_rfc_9106_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    tried = _argon2_stand_in(monkeypatch)
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


# --- the schema of every decision ----------------------------------------------------------------------------

ID, KEY, SIG = "ab" * 16, "cd" * 32, "ef" * 64
EIGHT_LANGUAGES = ("en", "es", "fr", "ar", "ast", "de", "pt", "tzm")  # two- and three-letter codes
MEMBER = {"handle": "ana", "box": ANA_BOX, "sign": ANA_SIGN, "until": None, "card_sig": ANA_CARD_SIG}

GOOD_BODIES: list[tuple[str, dict[str, Any]]] = [
    ("genesis", {"members": [MEMBER], "quorum": 1, "sealed": True}),
    ("genesis", {"members": [{k: v for k, v in MEMBER.items() if k != "card_sig"}], "quorum": 1}),
    ("add_member", {"member": MEMBER}),
    ("add_member", {"member": {**MEMBER, "until": 0}}),
    ("add_member", {"member": {**MEMBER, "until": 10**6 - 1, "handle": "a" * 40}}),
    ("remove_member", {"sign": KEY}),
    ("rotate_key", {"old_sign": KEY, "member": MEMBER, "old_sig": SIG}),
    ("rotate_key", {"old_sign": KEY, "member": MEMBER}),
    ("set_quorum", {"quorum": 2}),
    ("renew_member", {"sign": KEY, "until": 0}),
    ("renew_member", {"sign": KEY, "until": None}),
    ("allocation", {"request": ID, "source": {"kind": "offer", "ref": ID, "amount": 1}, "note": KEY}),
    ("allocation", {"request": ID, "source": {"kind": "stock", "ref": None, "amount": None}, "note": None}),
    ("allocation", {"request": ID, "source": {"kind": "money"}}),
    ("distribution", {"request": ID, "allocation": ID, "note": None}),
    ("dispute", {"decision": ID, "note": None, "raised_by": "requester", "request": ID}),
    ("dispute", {"decision": ID, "raised_by": "keyholder"}),
    ("dispute", {"decision": ID}),
    ("resolution", {"dispute": ID, "outcome": "upheld", "note": None}),
    ("resolution", {"dispute": ID, "outcome": "overturned"}),
    ("impact_update", {"texts": {"en": "40 food parcels this month.\nThank you, neighbours."}}),
    ("impact_update", {"texts": dict.fromkeys(EIGHT_LANGUAGES, "é" * 600)}),  # the most: 8 texts of 600
    ("receipt", {"kind": "money", "category": "food", "amount": 1, "note": KEY}),
    ("receipt", {"kind": "goods", "category": "A_" + "z" * 30, "amount": 10**12, "note": None}),
    ("receipt", {"kind": "money", "category": "rent", "amount": 50}),
    ("set_threshold", {"threshold": 0, "note": None}),
    ("set_threshold", {"threshold": 10**12}),
    ("set_budget", {"category": "medicine", "amount": 0, "note": KEY}),
    ("set_budget", {"category": "x", "amount": 10**12}),
]

BAD_BODIES: list[tuple[str, Any]] = [
    ("nonsense", {}), ("set_quorum", []), ("set_quorum", {"quorum": 1, "extra": 1}),
    ("genesis", {"members": None, "quorum": 1}), ("genesis", {"members": [MEMBER], "quorum": 1, "sealed": 1}),
    ("genesis", {"members": [MEMBER], "quorum": True}), ("genesis", {"members": [MEMBER], "quorum": "1"}),
    ("genesis", {"members": [MEMBER]}), ("genesis", {"members": [{**MEMBER, "box": "zz"}], "quorum": 1}),
    ("add_member", {}), ("add_member", {"member": None}), ("add_member", {"member": {**MEMBER, "x": 1}}),
    ("add_member", {"member": {k: v for k, v in MEMBER.items() if k != "until"}}),
    ("add_member", {"member": {**MEMBER, "card_sig": "ef" * 63}}), ("add_member", {"member": {**MEMBER, "card_sig": 5}}),
    ("add_member", {"member": {**MEMBER, "handle": 5}}), ("add_member", {"member": {**MEMBER, "handle": "a" * 41}}),
    ("add_member", {"member": {**MEMBER, "handle": "a b"}}), ("add_member", {"member": {**MEMBER, "box": KEY.upper()}}),
    ("add_member", {"member": {**MEMBER, "sign": 5}}), ("add_member", {"member": {**MEMBER, "until": True}}),
    ("add_member", {"member": {**MEMBER, "until": -1}}), ("add_member", {"member": {**MEMBER, "until": 10**6}}),
    ("add_member", {"member": {**MEMBER, "until": "1"}}),
    ("remove_member", {"sign": "cd" * 31}), ("remove_member", {}), ("renew_member", {"sign": 5, "until": 1}),
    ("rotate_key", {"old_sign": "x", "member": MEMBER}), ("rotate_key", {"member": MEMBER}),
    ("rotate_key", {"old_sign": KEY, "member": MEMBER, "old_sig": "ef" * 63}),
    ("rotate_key", {"old_sign": KEY, "member": MEMBER, "old_sig": 5}), ("rotate_key", {"old_sign": KEY}),
    ("rotate_key", {"old_sign": KEY, "member": {**MEMBER, "box": None}}),
    ("set_quorum", {"quorum": True}), ("set_quorum", {"quorum": "2"}), ("set_quorum", {}),
    ("renew_member", {"sign": KEY, "until": -1}), ("renew_member", {"sign": KEY, "until": True}),
    ("renew_member", {"sign": KEY, "until": 10**6}),
    ("allocation", {"request": "ab" * 15, "source": {"kind": "offer"}}), ("allocation", {"source": {"kind": "offer"}}),
    ("allocation", {"request": ID, "source": None}), ("allocation", {"request": ID, "source": {"kind": "gift"}}),
    ("allocation", {"request": ID, "source": {"kind": "offer", "x": 1}}),
    ("allocation", {"request": ID, "source": {"kind": "offer", "ref": "zz"}}),
    ("allocation", {"request": ID, "source": {"kind": "offer", "amount": 0}}),
    ("allocation", {"request": ID, "source": {"kind": "offer", "amount": True}}),
    ("allocation", {"request": ID, "source": {"kind": "offer", "amount": "1"}}),
    ("allocation", {"request": ID, "source": {"kind": "offer"}, "note": "a name in clear"}),
    ("allocation", {"request": ID, "source": {"kind": "offer"}, "note": 5}),
    ("distribution", {"request": ID, "allocation": "x", "note": None}), ("distribution", {"allocation": ID}),
    ("dispute", {"decision": "x"}), ("dispute", {"decision": ID, "raised_by": "operator"}),
    ("dispute", {"decision": ID, "request": "x"}), ("dispute", {}),
    ("resolution", {"dispute": "x", "outcome": "upheld"}), ("resolution", {"dispute": ID, "outcome": "maybe"}),
    ("resolution", {"dispute": ID}),
    # impact updates: the one clear text a decision may hold, and only in its bounds
    ("impact_update", {}), ("impact_update", {"texts": {}}), ("impact_update", {"texts": ["en", "text"]}),
    ("impact_update", {"texts": {"en": "ok"}, "note": None}),
    ("impact_update", {"texts": dict.fromkeys((*EIGHT_LANGUAGES, "it"), "ok")}),
    ("impact_update", {"texts": {"EN": "ok"}}), ("impact_update", {"texts": {"e": "ok"}}),
    ("impact_update", {"texts": {"engl": "ok"}}), ("impact_update", {"texts": {5: "ok"}}),
    ("impact_update", {"texts": {"en": ""}}), ("impact_update", {"texts": {"en": " \n "}}),
    ("impact_update", {"texts": {"en": 5}}), ("impact_update", {"texts": {"en": "x" * 601}}),
    ("impact_update", {"texts": {"en": "ok", "fr": "x" * 601}}),
    *[("impact_update", {"texts": {"en": f"a{c}b"}}) for c in ("\x00", "\t", "\x0b", "\r", "\x1f", "\x7f", "\x85",
                                                            "\x9f", "\u2028", "\u2029")],
    # receipts, thresholds and budgets: a category id, a kind, and whole numbers within their bounds
    ("receipt", {"kind": "cash", "category": "food", "amount": 5}),
    ("receipt", {"category": "food", "amount": 5}),
    ("receipt", {"kind": "money", "category": "food", "amount": 0}),
    ("receipt", {"kind": "money", "category": "food", "amount": True}),
    ("receipt", {"kind": "money", "category": "food", "amount": "5"}),
    ("receipt", {"kind": "money", "category": "food", "amount": 5.0}),
    ("receipt", {"kind": "money", "category": "food", "amount": 10**12 + 1}),
    ("receipt", {"kind": "money", "category": "food"}),
    ("receipt", {"kind": "money", "category": "two words", "amount": 5}),
    ("receipt", {"kind": "money", "category": "a" * 33, "amount": 5}),
    ("receipt", {"kind": "money", "category": "", "amount": 5}),
    ("receipt", {"kind": "money", "category": 5, "amount": 5}),
    ("receipt", {"kind": "money", "amount": 5}),
    ("receipt", {"kind": "money", "category": "food", "amount": 5, "note": "from Ana, 12 Elm St"}),
    ("receipt", {"kind": "money", "category": "food", "amount": 5, "donor": "Ana"}),
    ("set_threshold", {"threshold": -1}), ("set_threshold", {"threshold": True}), ("set_threshold", {"threshold": "1"}),
    ("set_threshold", {"threshold": 10**12 + 1}), ("set_threshold", {}), ("set_threshold", {"threshold": False}),
    ("set_budget", {"category": "food", "amount": -1}), ("set_budget", {"category": "food", "amount": True}),
    ("set_budget", {"category": "food", "amount": 10**12 + 1}), ("set_budget", {"category": "food"}),
    ("set_budget", {"amount": 5}), ("set_budget", {"category": "fo od", "amount": 5}),
    ("set_budget", {"category": "food", "amount": 5, "kind": "money"}),
]


@pytest.mark.parametrize("kind,body", GOOD_BODIES)
def test_every_kind_of_decision_has_a_shape_it_may_hold(kind: str, body: dict[str, Any]) -> None:
    logschema.check_body(kind, body)


@pytest.mark.parametrize("kind,body", BAD_BODIES)
def test_a_decision_with_a_field_it_may_not_hold_or_of_the_wrong_shape_is_refused(kind: str, body: Any) -> None:
    with pytest.raises(logschema.SchemaError):
        logschema.check_body(kind, body)


def test_ids_keys_and_signatures_are_exactly_lowercase_hex_of_their_length() -> None:
    assert logschema.is_id(ID) and not logschema.is_id(ID.upper()) and not logschema.is_id(ID + "a")
    assert not logschema.is_id(5) and not logschema.is_key(5) and not logschema.is_signature(5)
    assert logschema.is_signature(SIG) and not logschema.is_signature(SIG[:-1]) and not logschema.is_signature(KEY)


# --- the log: every kind of decision, applied ------------------------------------------------------------

BEN = crypto.KeyPair(bytes(range(128, 160)), bytes(range(160, 192)))
CAI = crypto.KeyPair(bytes(range(192, 224)), bytes(range(224, 256)))


def _v1_signature(proposal: dict[str, Any], signer: crypto.KeyPair) -> dict[str, Any]:
    """A genesis signature as made before signatures expired: no "until", the version-1 message."""
    message = log.SIGNATURE_CONTEXT + bytes.fromhex(log.digest(proposal))
    sig = nacl.signing.SigningKey(signer.sign_seed).sign(message).signature.hex()
    return {"signer": signer.sign_public.hex(), "sig": sig, "seen": ""}


def _genesis_proposal(founders: dict[str, crypto.KeyPair], quorum: int, sealed: bool | None) -> dict[str, Any]:
    if sealed is None:
        entries = [{"handle": n, "box": k.box_public.hex(), "sign": k.sign_public.hex(), "until": None}
                   for n, k in founders.items()]
    else:
        entries = [member_entry(cards.make_card(n, k), None) for n, k in founders.items()]
    body: dict[str, Any] = {"members": entries, "quorum": quorum}
    if sealed is not None:
        body["sealed"] = sealed
    return {"id": "01" * 16, "type": "genesis", "day": 100, "body": body}


def _found(founders: dict[str, crypto.KeyPair], quorum: int = 1, sealed: bool | None = True) -> LogState:
    proposal = _genesis_proposal(founders, quorum, sealed)
    signatures = [sign_proposal(proposal, k.sign_seed) for k in founders.values()]
    return apply(LogState(), new_record(LogState(), proposal, signatures, 100))


def _record(state: LogState, kind: str, body: dict[str, Any], signers: list[crypto.KeyPair], day: int = 101,
            by: Any = "first", sealed: bool = True) -> dict[str, Any]:
    proposal = {"id": secrets.token_hex(16), "type": kind, "body": body, "day": day}
    if by is not None:
        proposal["by"] = signers[0].sign_public.hex() if by == "first" else by
    signatures = [sign_proposal(proposal, k.sign_seed, state, today=day) for k in signers]
    return new_record(state, proposal, signatures, day, sealer=signers[0] if sealed else None)


def _card_of(name: str, keys_: crypto.KeyPair, until: int | None = None) -> dict[str, Any]:
    return member_entry(cards.make_card(name, keys_), until)


def test_members_are_added_with_their_card_and_term_and_read_in_key_order() -> None:
    state = _found({"ana": ANA, "ben": BEN})
    after = apply(state, _record(state, "add_member", {"member": _card_of("cai", CAI, 300)}, [ANA]))
    cai = after.members[CAI.sign_public.hex()]
    assert cai.to_json() == _card_of("cai", CAI, 300)
    assert after.recipients(300) == [bytes.fromhex(m.box) for m in sorted(after.members.values(), key=lambda m: m.sign)]
    assert bytes.fromhex(cai.box) not in after.recipients(301)  # its term ended
    assert [m.handle for m in after.active_members(301)] == ["ana", "ben"]
    assert after.day == 101 and after.seq == 1


@pytest.mark.parametrize("member,why", [
    (_card_of("ben", BEN), "already present"),
    (_card_of("dup", crypto.KeyPair(ANA.box_secret, CAI.sign_seed)), "already present"),  # ana's reading key
    ({k: v for k, v in _card_of("cai", CAI).items() if k != "card_sig"}, "without a card"),
    ({**_card_of("cai", CAI), "card_sig": cards.make_card("cai", BEN).sig}, "does not match its keys"),
])
def test_a_member_twice_or_without_a_good_card_is_not_added(member: dict[str, Any], why: str) -> None:
    state = _found({"ana": ANA, "ben": BEN})
    with pytest.raises(LogError, match=why):
        apply(state, _record(state, "add_member", {"member": member}, [ANA]))


def test_a_member_is_removed_and_the_quorum_must_still_fit() -> None:
    state = _found({"ana": ANA, "ben": BEN, "cai": CAI}, quorum=1)
    after = apply(state, _record(state, "remove_member", {"sign": CAI.sign_public.hex()}, [ANA]))
    assert CAI.sign_public.hex() not in after.members and len(after.members) == 2
    with pytest.raises(LogError, match="non-member"):
        apply(after, _record(after, "remove_member", {"sign": CAI.sign_public.hex()}, [ANA]))
    two = apply(after, _record(after, "set_quorum", {"quorum": 2}, [ANA, BEN]))
    assert two.quorum == 2
    with pytest.raises(LogError, match="quorum must be between"):
        apply(two, _record(two, "remove_member", {"sign": BEN.sign_public.hex()}, [ANA, BEN]))
    for quorum in (0, 3):
        with pytest.raises(LogError, match="quorum must be between"):
            apply(after, _record(after, "set_quorum", {"quorum": quorum}, [ANA]))


def test_a_key_is_rotated_only_with_the_old_keys_word() -> None:
    state = _found({"ana": ANA, "ben": BEN})
    new = cards.make_card("ana", ANA_NEXT)
    body = {"old_sign": ANA_SIGN, "member": member_entry(new, None), "old_sig": cards.rotation_signature(ANA, new)}
    after = apply(state, _record(state, "rotate_key", body, [ANA]))
    assert ANA_SIGN not in after.members and after.members[new.sign].box == new.box
    for bad, why in (({**body, "old_sig": cards.rotation_signature(BEN, new)}, "did not sign"),
                     ({k: v for k, v in body.items() if k != "old_sig"}, "did not sign"),
                     ({**body, "old_sign": CAI.sign_public.hex()}, "bad key rotation"),
                     ({**body, "member": _card_of("ben", BEN)}, "bad key rotation")):
        with pytest.raises(LogError, match=why):
            apply(state, _record(state, "rotate_key", bad, [ANA]))


def test_a_term_is_renewed_to_the_day_decided_or_without_end() -> None:
    state = _found({"ana": ANA, "ben": BEN})
    ben = BEN.sign_public.hex()
    dated = apply(state, _record(state, "renew_member", {"sign": ben, "until": 500}, [ANA]))
    assert dated.members[ben].until == 500 and dated.members[ben].card_sig == state.members[ben].card_sig
    assert apply(dated, _record(dated, "renew_member", {"sign": ben, "until": None}, [ANA])).members[ben].until is None
    with pytest.raises(LogError, match="bad renewal"):
        apply(state, _record(state, "renew_member", {"sign": CAI.sign_public.hex(), "until": 5}, [ANA]))


def test_disputes_open_on_allocations_and_hand_overs_and_close_with_a_resolution() -> None:
    state = _found({"ana": ANA})
    allocation = _record(state, "allocation", {"request": ID, "source": {"kind": "stock"}}, [ANA])
    state = apply(state, allocation)
    hand_over = _record(state, "distribution", {"request": ID, "allocation": allocation["proposal"]["id"]}, [ANA])
    state = apply(state, hand_over)
    hid = hand_over["proposal"]["id"]
    disputed = apply(state, _record(state, "dispute", {"decision": hid}, [ANA]))
    (dispute_id,) = disputed.open_disputes
    assert disputed.open_disputes == {dispute_id: hid}
    with pytest.raises(LogError, match="open dispute"):
        apply(state, _record(state, "resolution", {"dispute": ID, "outcome": "upheld"}, [ANA]))
    resolved = apply(disputed, _record(disputed, "resolution", {"dispute": dispute_id, "outcome": "upheld"}, [ANA]))
    assert resolved.open_disputes == {}
    again = apply(resolved, _record(resolved, "dispute", {"decision": hid}, [ANA]))
    assert list(again.open_disputes.values()) == [hid]
    with pytest.raises(LogError, match="must reference an allocation or a hand-over"):
        apply(state, _record(state, "dispute", {"decision": state.genesis[:32]}, [ANA]))


MONEY = {"kind": "money", "category": "food", "amount": 5}


def test_money_received_needs_the_quorum_from_the_threshold_up_and_one_signature_below_it() -> None:
    state = _found({"ana": ANA, "ben": BEN}, quorum=2)
    assert state.threshold == 0  # until the group decides otherwise, every gift of money needs the quorum
    with pytest.raises(LogError, match="1 of 2 required"):
        apply(state, _record(state, "receipt", MONEY, [ANA]))
    goods = _record(state, "receipt", {**MONEY, "kind": "goods", "amount": 500}, [ANA])
    state = apply(state, goods)  # stock needs one signature, whatever its amount, and is no money
    assert state.money_in == {} and state.decisions[goods["proposal"]["id"]] == "receipt"
    with pytest.raises(LogError, match="1 of 2 required"):
        apply(state, _record(state, "set_threshold", {"threshold": 100}, [ANA]))
    state = apply(state, _record(state, "set_threshold", {"threshold": 100}, [ANA, BEN]))
    assert state.threshold == 100
    below = _record(state, "receipt", {**MONEY, "amount": 99}, [BEN])
    state = apply(state, below)
    with pytest.raises(LogError, match="1 of 2 required"):
        apply(state, _record(state, "receipt", {**MONEY, "amount": 100}, [ANA]))  # the threshold itself is "big"
    at = _record(state, "receipt", {**MONEY, "category": "rent", "amount": 100}, [ANA, BEN])
    state = apply(state, at)
    assert state.money_in == {below["proposal"]["id"]: ("food", 99), at["proposal"]["id"]: ("rent", 100)}
    # An amount that is not a whole number is never "small": it would need the quorum (and the schema refuses it).
    for amount in (True, "5", None, 5.0):
        assert state.required({"type": "receipt", "body": {**MONEY, "amount": amount}}) == 2
    assert state.required({"type": "receipt", "body": {**MONEY, "kind": "goods", "amount": 10**6}}) == 1
    assert state.required({"type": "receipt", "body": {**MONEY, "amount": 99}}) == 1
    assert state.required({"type": "dispute", "body": {}}) == 0
    assert state.required({"type": "receipt", "body": ["money", 5]}) == 1  # not a body: no money, and no crash
    lowered = apply(state, _record(state, "set_threshold", {"threshold": 0}, [ANA, BEN]))
    assert lowered.threshold == 0 and lowered.required({"type": "receipt", "body": {**MONEY, "amount": 1}}) == 2
    assert lowered.money_in == state.money_in  # later decisions keep what was received


def test_a_budget_is_set_changed_and_ended_per_category_by_the_quorum() -> None:
    state = _found({"ana": ANA, "ben": BEN}, quorum=2)
    with pytest.raises(LogError, match="1 of 2 required"):
        apply(state, _record(state, "set_budget", {"category": "food", "amount": 300}, [ANA]))
    for category, amount, budgets in (("food", 300, {"food": 300}), ("rent", 1000, {"food": 300, "rent": 1000}),
                                      ("food", 250, {"food": 250, "rent": 1000}), ("food", 0, {"rent": 1000}),
                                      ("medicine", 0, {"rent": 1000})):
        state = apply(state, _record(state, "set_budget", {"category": category, "amount": amount}, [ANA, BEN]))
        assert state.budgets == budgets
    money = _record(state, "receipt", MONEY, [ANA, BEN])
    state = apply(state, money)
    state = apply(state, _record(state, "set_threshold", {"threshold": 7}, [ANA, BEN]))
    after = apply(state, _record(state, "set_budget", {"category": "x", "amount": 1}, [ANA, BEN]))
    assert after.budgets == {"rent": 1000, "x": 1} and after.threshold == 7
    assert after.money_in == {money["proposal"]["id"]: ("food", 5)}


def test_an_impact_update_is_final_with_the_quorum_and_its_text_is_hashed_the_same_forever() -> None:
    state = _found({"ana": ANA, "ben": BEN}, quorum=2)
    body = {"texts": {"en": "40 food parcels.\nThank you!", "ar": "٤٠ طرداً غذائياً", "fr": "Merci, café"}}
    with pytest.raises(LogError, match="1 of 2 required"):
        apply(state, _record(state, "impact_update", body, [ANA]))
    record = _record(state, "impact_update", body, [ANA, BEN])
    assert apply(state, record).decisions[record["proposal"]["id"]] == "impact_update"
    proposal = {"id": "cd" * 16, "type": "impact_update", "body": body, "day": 101, "by": ANA_SIGN}
    assert log.canonical(proposal).count("٤٠".encode()) == 1  # UTF-8 in the hashed form, never \\u escapes
    assert log.digest(proposal) == "0139117178400d7541509d37850089eaa148aafeb71900a76b9d1b7b2be017f3"


@pytest.mark.parametrize("kind,body,digest", [
    ("receipt", {"kind": "money", "category": "food", "amount": 50, "note": None},
     "4e5a87810a505a04174e868b9217ef59a6ebe26813a4fa3697ff30f34abef893"),
    ("set_threshold", {"threshold": 100, "note": None}, "82f0632d33228624349ce9e91089bf894c77b80c2d3e252c40eb689ad8bc2b97"),
    ("set_budget", {"category": "rent", "amount": 1000, "note": None},
     "ce66ef95adc5468d80f782b773e0c849fb1ee950147f0ca8c43dd956f007579e"),
])
def test_money_decisions_hash_the_same_forever(kind: str, body: dict[str, Any], digest: str) -> None:
    proposal = {"id": "cd" * 16, "type": kind, "body": body, "day": 101, "by": ANA_SIGN}
    logschema.check_body(kind, body)
    assert log.digest(proposal) == digest


def test_a_receipt_is_hashed_over_canonical_json_written_by_hand() -> None:
    proposal = {"id": "cd" * 16, "type": "receipt", "day": 101, "by": ANA_SIGN,
                "body": {"note": None, "kind": "money", "amount": 50, "category": "food"}}
    by_hand = ('{"body":{"amount":50,"category":"food","kind":"money","note":null},"by":"' + ANA_SIGN
               + '","day":101,"id":"' + "cd" * 16 + '","type":"receipt"}').encode()
    assert log.canonical(proposal) == by_hand
    assert log.digest(proposal) == hashlib.blake2b(by_hand, digest_size=32, person=b"aidnet-log").hexdigest()


def test_a_log_founded_before_cards_takes_members_and_rotations_without_them() -> None:
    state = _found({"ana": ANA, "ben": BEN}, sealed=None)
    assert not state.sealed and state.members[ANA_SIGN].card is None
    bare = {"handle": "cai", "box": CAI.box_public.hex(), "sign": CAI.sign_public.hex(), "until": None}
    added = apply(state, _record(state, "add_member", {"member": bare}, [ANA], by=None, sealed=False))
    assert added.members[CAI.sign_public.hex()].card_sig is None and not added.sealed
    rotated_to = {"handle": "ana", "box": ANA_NEXT.box_public.hex(), "sign": ANA_NEXT.sign_public.hex(), "until": None}
    body = {"old_sign": ANA_SIGN, "member": rotated_to}
    assert ANA_NEXT.sign_public.hex() in apply(state, _record(state, "rotate_key", body, [ANA], by=None,
                                                               sealed=False)).members
    new = cards.make_card("ana", ANA_NEXT)
    with pytest.raises(LogError, match="did not sign"):  # an old_sig given is checked even here
        apply(state, _record(state, "rotate_key", {"old_sign": ANA_SIGN, "member": member_entry(new, None),
                                                   "old_sig": cards.rotation_signature(BEN, new)}, [ANA], by=None,
                             sealed=False))
    sealed_now = apply(state, _record(state, "set_quorum", {"quorum": 1}, [ANA], by=None))
    assert sealed_now.sealed  # once one record carries a seal, every later one must
    with pytest.raises(LogError, match="seal"):
        apply(sealed_now, _record(sealed_now, "set_quorum", {"quorum": 1}, [ANA], sealed=False))


@pytest.mark.parametrize("sealed", [True, False, None])
def test_a_genesis_says_whether_the_group_is_sealed(sealed: bool | None) -> None:
    assert _found({"ana": ANA}, sealed=sealed).sealed is (sealed is True)


def test_a_genesis_signed_the_old_way_verifies_only_unsealed() -> None:
    proposal = _genesis_proposal({"ana": ANA}, 1, None)
    assert apply(LogState(), new_record(LogState(), proposal, [_v1_signature(proposal, ANA)], 100)).quorum == 1
    assert log.signature_valid(proposal, _v1_signature(proposal, ANA))
    sealed = _genesis_proposal({"ana": ANA}, 1, True)
    with pytest.raises(LogError, match="without an expiry"):
        apply(LogState(), new_record(LogState(), sealed, [_v1_signature(sealed, ANA)], 100))


@pytest.mark.parametrize("change,why", [
    (lambda r: {**r, "seal": {"signer": ANA_SIGN, "sig": "00" * 64}}, "not sealed"),
    (lambda r: {**r, "signatures": [*r["signatures"], r["signatures"][0]]}, "every founding member"),
    (lambda r: {**r, "signatures": r["signatures"][:1]}, "every founding member"),
    (lambda r: {**r, "proposal": {**r["proposal"], "body": {**r["proposal"]["body"], "quorum": 0}}}, "a quorum"),
    (lambda r: {**r, "proposal": {**r["proposal"], "body": {**r["proposal"]["body"], "quorum": 3}}}, "a quorum"),
    (lambda r: {**r, "proposal": {**r["proposal"], "body": {**r["proposal"]["body"], "members": []}}}, "a quorum"),
    (lambda r: {**r, "proposal": {**r["proposal"], "body": {**r["proposal"]["body"], "members":
                                                             r["proposal"]["body"]["members"][:1] * 2}}}, "a quorum"),
    (lambda r: {**r, "seq": 1}, "out of order"),
])
def test_a_genesis_is_refused_for_every_flaw(change: Any, why: str) -> None:
    proposal = _genesis_proposal({"ana": ANA, "ben": BEN}, 2, True)
    record = new_record(LogState(), proposal, [sign_proposal(proposal, k.sign_seed) for k in (ANA, BEN)], 100)
    with pytest.raises(LogError, match=why):
        apply(LogState(), change(record))


def test_a_genesis_whose_signatures_expired_before_its_day_is_refused() -> None:
    proposal = _genesis_proposal({"ana": ANA}, 1, True)
    expired = sign_proposal(proposal, ANA.sign_seed, today=10, days=5)
    with pytest.raises(LogError, match="every founding member"):
        apply(LogState(), new_record(LogState(), proposal, [expired], 100))


# --- pending proposals: which may be signed ----------------------------------------------------------------


def _pending(state: LogState, kind: str, body: dict[str, Any], by: Any = ANA_SIGN,
             signer: crypto.KeyPair | None = ANA) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    proposal: dict[str, Any] = {"id": ID, "type": kind, "body": body, "day": 101}
    if by is not None:
        proposal["by"] = by
    return proposal, [sign_proposal(proposal, signer.sign_seed, state, today=101)] if signer else []


def _rotation(to: crypto.KeyPair, old_signer: crypto.KeyPair) -> dict[str, Any]:
    new = cards.make_card("ana", to)
    return {"old_sign": ANA_SIGN, "member": member_entry(new, None), "old_sig": cards.rotation_signature(old_signer, new)}


@pytest.mark.parametrize("kind,body,by,signer,problem", [
    ("set_quorum", {"quorum": 1}, ANA_SIGN, ANA, None),
    ("add_member", {"member": _card_of("cai", CAI)}, ANA_SIGN, ANA, None),
    ("rotate_key", _rotation(ANA_NEXT, ANA), ANA_SIGN, ANA, None),
    ("dispute", {"decision": ID, "raised_by": "requester"}, "requester", None, None),
    ("set_quorum", {"quorum": 1}, None, ANA, "it does not say who proposed it"),
    ("set_quorum", {"quorum": 1}, "requester", None, "only a dispute may come from a requester"),
    ("set_quorum", {"quorum": 1}, ANA_SIGN, None,
     "its proposer's signature is missing or does not hold: the server may have written it"),
    ("set_quorum", {"quorum": 1}, ANA_SIGN, BEN,
     "its proposer's signature is missing or does not hold: the server may have written it"),
    ("set_quorum", {"quorum": 1}, CAI.sign_public.hex(), CAI,
     "its proposer's signature is missing or does not hold: the server may have written it"),
    ("add_member", {"member": {**_card_of("cai", CAI), "card_sig": cards.make_card("cai", BEN).sig}}, ANA_SIGN, ANA,
     "the member's card is not signed by its own key"),
    ("add_member", {"member": {k: v for k, v in _card_of("cai", CAI).items() if k != "card_sig"}}, ANA_SIGN, ANA,
     "the member's card is not signed by its own key"),
    ("rotate_key", _rotation(ANA_NEXT, BEN), ANA_SIGN, ANA, "the old key did not sign this rotation"),
    ("rotate_key", {k: v for k, v in _rotation(ANA_NEXT, ANA).items() if k != "old_sig"}, ANA_SIGN, ANA,
     "the old key did not sign this rotation"),
    ("genesis", {"members": [MEMBER], "quorum": 1}, ANA_SIGN, ANA, "not a decision that can be proposed"),
])
def test_a_pending_proposal_may_be_signed_only_when_whole_and_attributed(
        kind: str, body: dict[str, Any], by: Any, signer: crypto.KeyPair | None, problem: str | None) -> None:
    state = _found({"ana": ANA, "ben": BEN})
    proposal, signatures = _pending(state, kind, body, by, signer)
    assert log.pending_problem(state, proposal, signatures, 101) == problem


@pytest.mark.parametrize("proposal,signatures", [
    (None, []), ([], []), ({"id": ID, "type": "set_quorum", "body": {"quorum": 1}, "day": 101}, None),
    ({"id": ID, "type": "set_quorum", "body": {"quorum": 1}}, []),
    ({"id": ID, "type": "set_quorum", "body": {"quorum": 1}, "day": 101, "by": ANA_SIGN, "x": 1}, []),
    ({"id": "x", "type": "set_quorum", "body": {"quorum": 1}, "day": 101}, []),
    ({"id": ID, "type": "set_quorum", "body": {"quorum": True}, "day": 101}, []),
    ({"id": ID, "type": "nonsense", "body": {}, "day": 101}, []),
])
def test_a_malformed_pending_proposal_is_never_signable(proposal: Any, signatures: Any) -> None:
    assert log.pending_problem(_found({"ana": ANA}), proposal, signatures, 101) == "malformed"


def test_the_proposers_signature_must_count_on_the_day_it_is_checked() -> None:
    state = _found({"ana": ANA, "ben": BEN})
    proposal, signatures = _pending(state, "set_quorum", {"quorum": 1})
    assert log.pending_problem(state, proposal, signatures, 101 + log.SIGNATURE_DAYS) is None
    assert log.pending_problem(state, proposal, signatures, 102 + log.SIGNATURE_DAYS) is not None
    # a malformed signature first does not hide a good one after it
    assert state.valid_signers(proposal, [{"x": 1}, *signatures], 101) == {ANA_SIGN}
    assert log.pending_problem(state, proposal, [{"x": 1}, *signatures], 101) is None


def test_a_member_whose_term_ended_signs_nothing_that_counts() -> None:
    state = _found({"ana": ANA, "ben": BEN})
    ben = BEN.sign_public.hex()
    state = apply(state, _record(state, "renew_member", {"sign": ben, "until": 101}, [ANA]))
    proposal, signatures = _pending(state, "set_quorum", {"quorum": 1}, by=ben, signer=BEN)
    assert state.valid_signers(proposal, signatures, 101) == {ben}
    assert state.valid_signers(proposal, signatures, 102) == set()


# --- signatures, seals and canonical form ------------------------------------------------------------------


def test_a_genesis_signature_holds_without_a_state_and_a_stranger_s_or_a_forged_one_never_does() -> None:
    proposal = _genesis_proposal({"ana": ANA}, 1, True)
    good = sign_proposal(proposal, ANA.sign_seed)
    assert log.signature_valid(proposal, good) and log.signature_valid(proposal, good, None, 100)
    assert not log.signature_valid(proposal, {**good, "sig": sign_proposal(proposal, BEN.sign_seed)["sig"]})
    assert not log.signature_valid(proposal, {**good, "seen": "22" * 32})  # a genesis signer saw no head
    v1 = _v1_signature(proposal, ANA)
    assert log.signature_valid(proposal, v1, None, 10**5)  # no last day: counts whenever
    state = _found({"ana": ANA})
    later, _ = _pending(state, "set_quorum", {"quorum": 1})
    signed = sign_proposal(later, ANA.sign_seed, state, today=101)
    assert log.signature_valid(later, signed, state)
    assert not log.signature_valid(later, signed)  # made for this group's log, not for none
    assert not log.signature_valid(later, {**signed, "seen": "22" * 32}, state)  # a head not in the log


@pytest.mark.parametrize("until,ok", [(0, True), (10**6 - 1, True), (10**6, False), (-1, False), (True, False),
                                      ("5", False), (None, False)])
def test_a_signature_s_last_day_is_a_whole_day_number(until: Any, ok: bool) -> None:
    signature = {"signer": ANA_SIGN, "sig": "00" * 64, "seen": "", "until": until}
    state = _found({"ana": ANA})
    record = {"seq": 1, "prev": state.head, "day": 101, "proposal": {"id": ID, "type": "set_quorum",
              "body": {"quorum": 1}, "day": 101, "by": ANA_SIGN}, "signatures": [signature]}
    # well formed, it is checked (and fails: a forged sig); malformed, it is refused as such
    with pytest.raises(LogError, match="does not match" if ok else "malformed signature"):
        apply(state, record)


def test_a_seal_must_be_a_signer_and_a_signature_of_the_right_shape() -> None:
    record = {"seq": 1, "prev": "22" * 32, "day": 101, "proposal": {"id": ID}, "signatures": []}
    seal = log.seal_record(record, "11" * 32, ANA.sign_seed)
    for bad in (None, {}, {**seal, "x": 1}, {**seal, "signer": "zz" * 32}, {**seal, "sig": seal["sig"][:-2]},
                {**seal, "sig": 5}, {**seal, "signer": BEN.sign_public.hex()}):
        assert not log.seal_valid({**record, "seal": bad}, "11" * 32)
    assert not log.seal_valid({k: v for k, v in {**record, "seal": seal}.items() if k != "proposal"}, "11" * 32)


def test_canonical_form_is_sorted_compact_utf8_and_refuses_floats_anywhere() -> None:
    assert log.canonical({"b": [1, {"é": "ü"}], "a": None}) == '{"a":null,"b":[1,{"é":"ü"}]}'.encode()
    for bad in (1.5, [1.5], {"a": 1.5}, {"a": [{"b": 1.5}]}, ({"a": (1.5,)}), {1: 2}, {"a": {1: 2}}):
        with pytest.raises(LogError):
            log.canonical(bad)
    assert log.digest_canonical(log.canonical({"a": 1})) == log.digest({"a": 1})


def test_a_signature_made_without_a_day_counts_from_the_proposal_s_own_day() -> None:
    assert sign_proposal({"id": ID, "day": 50}, ANA.sign_seed)["until"] == 50 + log.SIGNATURE_DAYS
    assert sign_proposal({"id": ID}, ANA.sign_seed)["until"] == log.SIGNATURE_DAYS


@pytest.mark.parametrize("change", [
    lambda r: {**r, "proposal": [r["proposal"]]},
    lambda r: {**r, "proposal": {k: v for k, v in r["proposal"].items() if k != "day"}},
    lambda r: {**r, "signatures": "x"}, lambda r: {**r, "signatures": ["x"]},
    lambda r: {**r, "proposal": {**r["proposal"], "body": []}},
    lambda r: {**r, "day": -1}, lambda r: {**r, "day": True}, lambda r: {**r, "proposal": {**r["proposal"], "day": -1}},
    lambda r: {**r, "seq": True}, lambda r: {**r, "seq": "1"}, lambda r: {**r, "prev": 5},
    lambda r: {**r, "proposal": {**r["proposal"], "id": 5}}, lambda r: {**r, "proposal": {**r["proposal"], "type": 5}},
    lambda r: {**r, "extra": 1}, lambda r: {k: v for k, v in r.items() if k != "prev"},
    lambda r: {**r, "proposal": {**r["proposal"], "extra": 1}}, lambda r: {**r, "signatures": {}},
    lambda r: {**r, "signatures": ""},
])
def test_a_record_of_the_wrong_shape_is_refused_as_malformed(change: Any) -> None:
    state = _found({"ana": ANA})
    record = _record(state, "set_quorum", {"quorum": 1}, [ANA])
    assert apply(state, record).seq == 1
    with pytest.raises(LogError) as refused:
        apply(state, change(record))
    assert re.fullmatch(r"record 1: (malformed( \((KeyError|TypeError)\))?|unexpected fields)", str(refused.value))


@pytest.mark.parametrize("pid,why", [("x", "malformed id"), (5, "malformed"), (["x"], "malformed")])
def test_a_record_whose_id_is_not_an_id_is_refused_as_such(pid: Any, why: str) -> None:
    state = _found({"ana": ANA})
    record = _record(state, "set_quorum", {"quorum": 1}, [ANA])
    with pytest.raises(LogError, match=f"^record 1: {why}$"):
        apply(state, {**record, "proposal": {**record["proposal"], "id": pid}})


@pytest.mark.parametrize("by", ["zz", 5, "REQUESTER"])
def test_a_record_naming_a_malformed_proposer_is_refused_as_such(by: Any) -> None:
    state = _found({"ana": ANA})
    with pytest.raises(LogError, match="malformed proposer"):
        apply(state, _record(state, "set_quorum", {"quorum": 1}, [ANA], by=by))


def test_a_decision_already_in_the_log_is_not_counted_again() -> None:
    state = _found({"ana": ANA})
    record = _record(state, "set_quorum", {"quorum": 1}, [ANA])
    after = apply(state, record)
    assert record["proposal"]["id"] in after.seen and state.genesis[:0] == ""
    again = new_record(after, record["proposal"], record["signatures"], 101, sealer=ANA)
    with pytest.raises(LogError, match="replays"):
        apply(after, again)


# --- notes, replies and envelopes: malformed input ---------------------------------------------------------


def test_a_note_opens_only_when_it_matches_its_hash_and_its_place() -> None:
    proposal_id = "ab" * 16
    sealed = crypto.seal("a note, café".encode(), bytes.fromhex(proposal_id), notes.NOTE_KIND, [ANA.box_public])
    digest = notes.note_hash(sealed)
    assert notes.open_note(proposal_id, digest, sealed, ANA.box_secret) == "a note, café"
    assert notes.open_note(proposal_id, None, sealed, ANA.box_secret) is None
    assert notes.open_note(proposal_id, "", sealed, ANA.box_secret) is None
    assert notes.open_note(proposal_id, digest, None, ANA.box_secret) is None
    assert notes.open_note(proposal_id, "00" * 32, sealed, ANA.box_secret) is None
    assert notes.open_note(proposal_id, digest, sealed, BEN.box_secret) is None
    assert notes.open_note("zz", digest, sealed, ANA.box_secret) is None
    assert notes.open_note(proposal_id, digest, sealed, ANA.box_secret, b"\x01" * 16) is None
    on_request = crypto.seal(b"\xff not utf-8", bytes.fromhex(proposal_id), notes.NOTE_KIND, [ANA.box_public],
                             parent=b"\x01" * 16)
    assert notes.open_note(proposal_id, notes.note_hash(on_request), on_request, ANA.box_secret,
                           b"\x01" * 16) == "\ufffd not utf-8"


@pytest.mark.parametrize("payload", [
    b"[1]", b"not json", b'{"v":1}', b'{"v":2,"text":1,"handle":"a","by":"00","day":1,"sig":"00"}',
    b'{"v":2,"text":"t","handle":1,"by":"00","day":1,"sig":"00"}',
    b'{"v":2,"text":"t","handle":"a","by":1,"day":1,"sig":"00"}',
    b'{"v":2,"text":"t","handle":"a","by":"00","day":"1","sig":"00"}',
    b'{"v":2,"text":"t","handle":"a","by":"00","day":true,"sig":"00"}',
    b'{"v":2,"text":"t","handle":"a","by":"00","day":1,"sig":1}',
    b'{"v":2,"text":"t","handle":"a","by":"zz","day":1,"sig":"00"}',
])
def test_a_reply_payload_of_the_wrong_shape_reads_as_no_reply(payload: bytes) -> None:
    assert replies.read_payload(payload, bytes(16), bytes(16)) is None


def test_a_reply_field_of_the_wrong_type_is_no_reply_even_when_its_signature_holds() -> None:
    request, reply = bytes(16), bytes([1]) * 16
    good = strictjson.loads(replies.signed_payload(ANA, "ana", request, reply, "text", 7))
    for field, value in (("text", 5), ("handle", 5), ("day", True), ("day", "7")):
        changed = json.dumps({**good, field: value}).encode()
        assert replies.read_payload(changed, request, reply) is None
    assert replies.read_payload(json.dumps(good).encode(), request, bytes(16)) is None  # another reply's id


def test_what_is_not_an_envelope_has_no_version_and_no_recipients() -> None:
    sealed = crypto.seal(b"x", bytes(16), "request", [ANA.box_public, BEN.box_public])
    header_end = 4 + 2 * envelope.SEALED_KEY_SIZE + envelope.COMMIT_SIZE + envelope.NONCE_SIZE
    assert envelope.recipient_count(sealed[:header_end + envelope.TAG_SIZE]) == 2  # as short as it may be
    for cut in (header_end + envelope.TAG_SIZE - 1, header_end, header_end - envelope.TAG_SIZE, 4):
        assert envelope.recipient_count(sealed[:cut]) == 0 and envelope.version_of(sealed[:cut]) == 0
    for bad in (b"XE" + sealed[2:], b"AE\x04" + sealed[3:], b"AE\x02\x00" + sealed[4:], b"", b"AE\x02"):
        assert envelope.version_of(bad) == 0 and envelope.recipient_count(bad) == 0
        with pytest.raises(crypto.DecryptionError):
            crypto.open_envelope(bad, bytes(16), "request", ANA.box_secret)


def test_an_envelope_takes_up_to_255_recipients() -> None:
    readers = [crypto.generate_keypair() for _ in range(envelope.MAX_RECIPIENTS)]
    sealed = crypto.seal(b"x", bytes(16), "request", [k.box_public for k in readers])
    assert envelope.recipient_count(sealed) == 255
    assert crypto.open_envelope(sealed, bytes(16), "request", readers[-1].box_secret) == b"x"
    with pytest.raises(crypto.KeyFormatError):
        crypto.seal(b"x", bytes(16), "request", [k.box_public for k in readers] + [ANA.box_public])


@pytest.mark.parametrize("handle,box", [("not a handle!", ANA_BOX), ("ana", ANA_BOX.upper()), ("ana", "zz")])
def test_a_card_its_owner_signed_over_malformed_fields_is_still_refused(handle: str, box: str) -> None:
    sig = nacl.signing.SigningKey(ANA.sign_seed).sign(cards.card_message(handle, box, ANA_SIGN)).signature.hex()
    assert not cards.card_signature_valid(handle, box, ANA_SIGN, sig)


def test_a_card_or_rotation_signature_in_capitals_is_refused_though_it_decodes() -> None:
    assert not cards.card_signature_valid("ana", ANA_BOX, ANA_SIGN, ANA_CARD_SIG.upper())
    new = cards.make_card("ana", ANA_NEXT)
    assert not cards.rotation_signature_valid(ANA_SIGN, new, cards.rotation_signature(ANA, new).upper())
    upper = nacl.signing.SigningKey(ANA.sign_seed).sign(cards.rotation_message(ANA_SIGN.upper(), new)).signature.hex()
    assert not cards.rotation_signature_valid(ANA_SIGN.upper(), new, upper)


# --- what the second mutation run left -------------------------------------------------------------------


@pytest.mark.parametrize("field,value", [("text", 5), ("handle", 5), ("day", "7"), ("day", True)])
def test_a_reply_its_author_signed_with_a_field_of_the_wrong_type_is_no_reply(field: str, value: Any) -> None:
    fields: dict[str, Any] = {"handle": "ana", "text": "text", "day": 7}
    fields[field] = value
    payload = replies.signed_payload(ANA, fields["handle"], bytes(16), bytes(16), fields["text"], fields["day"])
    assert replies.read_payload(payload, bytes(16), bytes(16)) is None


def test_depth_counts_only_brackets_and_braces() -> None:
    assert strictjson.depth("X[X]X") == 1 and strictjson.depth("XX") == 0


def test_an_envelope_binds_ids_of_any_length_a_field_can_carry() -> None:
    long_id = bytes(40_000)
    sealed = crypto.seal(b"x", long_id, "request", [ANA.box_public], parent=long_id)
    assert crypto.open_envelope(sealed, long_id, "request", ANA.box_secret, long_id) == b"x"


def test_a_frame_of_only_its_length_is_an_empty_payload() -> None:
    assert envelope.unpad(bytes(4)) == b""
    with pytest.raises(crypto.DecryptionError):
        envelope.unpad(bytes(3))


def test_a_purpose_label_may_be_16_bytes_and_no_more() -> None:
    assert len(crypto.blake2b(b"", b"p" * 16)) == 32
    with pytest.raises(ValueError):
        crypto.blake2b(b"", b"p" * 17)


def test_a_seal_on_a_record_with_a_negative_place_is_not_valid() -> None:
    record = {"seq": 1, "prev": "22" * 32, "day": 101, "proposal": {"id": ID}, "signatures": []}
    seal = log.seal_record(record, "11" * 32, ANA.sign_seed)
    assert not log.seal_valid({**record, "seal": seal, "day": -1}, "11" * 32)
    assert not log.seal_valid({**record, "seal": seal, "seq": -1}, "11" * 32)


def test_a_signature_naming_a_head_this_log_never_had_does_not_hold_though_signed() -> None:
    state = _found({"ana": ANA})
    proposal, _ = _pending(state, "set_quorum", {"quorum": 1})
    elsewhere = LogState(seq=0, genesis=state.genesis, head="33" * 32, hashes=frozenset({"33" * 32}))
    signature = sign_proposal(proposal, ANA.sign_seed, elsewhere, today=101)
    assert log.signature_valid(proposal, signature, elsewhere)
    assert not log.signature_valid(proposal, signature, state)


def test_a_sealed_genesis_needs_a_card_for_every_founder_and_each_founder_once() -> None:
    proposal = _genesis_proposal({"ana": ANA}, 1, True)
    proposal["body"]["members"][0].pop("card_sig")
    with pytest.raises(LogError, match="without a card"):
        apply(LogState(), new_record(LogState(), proposal, [sign_proposal(proposal, ANA.sign_seed)], 100))
    twice = _genesis_proposal({"ana": ANA}, 1, True)
    twice["body"]["members"] *= 2
    with pytest.raises(LogError, match="a quorum"):
        apply(LogState(), new_record(LogState(), twice, [sign_proposal(twice, ANA.sign_seed)], 100))


def test_a_founder_signs_the_founding_whatever_term_the_group_gives_them() -> None:
    proposal = _genesis_proposal({"ana": ANA}, 1, True)
    proposal["body"]["members"][0]["until"] = 50  # ends before the founding day
    state = apply(LogState(), new_record(LogState(), proposal, [sign_proposal(proposal, ANA.sign_seed)], 100))
    assert state.members[ANA_SIGN].until == 50
    assert state.decisions == {proposal["id"]: "genesis"}


def test_a_lapsed_member_neither_counts_toward_a_quorum_nor_seals() -> None:
    state = _found({"ana": ANA, "ben": BEN}, quorum=2)
    ben = BEN.sign_public.hex()
    state = apply(state, _record(state, "renew_member", {"sign": ben, "until": 101}, [ANA, BEN]))
    with pytest.raises(LogError, match="1 of 2"):
        apply(state, _record(state, "set_quorum", {"quorum": 1}, [ANA, BEN], day=102))
    allocation = _record(state, "allocation", {"request": ID, "source": {"kind": "stock"}}, [ANA, BEN])
    state = apply(state, allocation)
    proposal = {"id": secrets.token_hex(16), "type": "dispute", "day": 102, "by": "requester",
                "body": {"decision": allocation["proposal"]["id"], "raised_by": "requester"}}
    with pytest.raises(LogError, match="sealed by someone"):
        apply(state, new_record(state, proposal, [], 102, sealer=BEN))
    assert apply(state, new_record(state, proposal, [], 102, sealer=ANA)).open_disputes


def test_a_quorum_decision_is_sealed_only_by_one_of_its_signers() -> None:
    state = _found({"ana": ANA, "ben": BEN}, quorum=1)
    record = _record(state, "set_quorum", {"quorum": 1}, [ANA])
    resealed = {**record, "seal": log.seal_record(record, state.genesis, BEN.sign_seed)}
    with pytest.raises(LogError, match="sealed by someone"):
        apply(state, resealed)


def test_a_log_signature_is_written_one_way_only() -> None:
    """The same signature in capitals is refused: a signature has one spelling (lower-case hex), as cards do."""
    proposal = {"id": "0" * 32, "type": "set_quorum", "body": {"quorum": 1}}
    signature = crypto.log.sign_proposal(proposal, bytes(32))
    assert crypto.log.signature_valid(proposal, signature)
    assert not crypto.log.signature_valid(proposal, {**signature, "sig": signature["sig"].upper()})


# --- period keys (crypto/periods.py) and envelope version 3 ----------------------------------------------------------

GENESIS = "ab" * 32


def _period_key(member: keys.KeyPair | None = None, readers: list[bytes] | None = None,
                period: str = "2026-12") -> periods.PeriodKey:
    member = member or crypto.generate_keypair()
    return periods.make(member, GENESIS, period, readers or [crypto.generate_keypair().box_public])


def _restated(key: periods.PeriodKey, by: keys.KeyPair, change: dict[str, Any]) -> periods.PeriodKey:
    """key with its statement changed and signed again by `by` (a well-signed statement that lies)."""
    statement = dict(json.loads(key.statement), **change)
    body = log.canonical(statement)
    signature = nacl.signing.SigningKey(by.sign_seed).sign(periods.CONTEXT + body).signature
    return periods.PeriodKey(key.hint, key.public, key.sealed, body, bytes(signature))


def test_a_period_key_states_what_it_is_and_its_secret_opens_for_its_readers_only() -> None:
    member, reader, other = crypto.generate_keypair(), crypto.generate_keypair(), crypto.generate_keypair()
    key = _period_key(member, [other.box_public, reader.box_public])
    statement = periods.checked(key)
    assert statement == {
        "v": 1, "genesis": GENESIS, "period": "2026-12", "public": key.public.hex(),
        "readers": sorted([other.box_public.hex(), reader.box_public.hex()]),
        "sealed": crypto.blake2b(key.sealed, b"aidnet-period-sd").hex(), "signer": member.sign_public.hex()}
    assert key.period == "2026-12" and len(key.hint) == envelope.HINT_SIZE == 8
    assert key.hint == periods.hint_of(key.public) == crypto.blake2b(key.public, b"aidnet-period", size=8)
    secret = periods.open_secret(key.hint, key.public, key.sealed, reader.box_secret)
    assert secret == periods.open_secret(key.hint, key.public, key.sealed, other.box_secret)
    assert keys.KeyPair(secret, bytes(32)).box_public == key.public
    for stranger in (member, crypto.generate_keypair()):
        with pytest.raises(crypto.CryptoError):
            periods.open_secret(key.hint, key.public, key.sealed, stranger.box_secret)
    with pytest.raises(crypto.CryptoError):  # another hint, or another public key, for the same sealed secret
        periods.open_secret(bytes(8), key.public, key.sealed, reader.box_secret)
    with pytest.raises(periods.PeriodKeyError):
        periods.open_secret(key.hint, crypto.generate_keypair().box_public, key.sealed, reader.box_secret)
    assert periods.KIND == "period-key"
    resealed = periods.seal_secret(secret, [member.box_public])
    assert periods.open_secret(key.hint, key.public, resealed, member.box_secret) == secret


def test_a_period_secret_of_the_wrong_length_or_for_another_key_is_refused() -> None:
    reader = crypto.generate_keypair()
    key = _period_key(readers=[reader.box_public])
    short = crypto.seal(b"x" * 31, key.hint, periods.KIND, [reader.box_public])
    with pytest.raises(periods.PeriodKeyError):
        periods.open_secret(key.hint, key.public, short, reader.box_secret)
    other = crypto.generate_keypair()
    foreign = crypto.seal(other.box_secret, key.hint, periods.KIND, [reader.box_public])
    with pytest.raises(periods.PeriodKeyError):
        periods.open_secret(key.hint, key.public, foreign, reader.box_secret)
    pair = crypto.generate_keypair()  # a secret that is its public key's, under a hint that is not
    sealed = crypto.seal(pair.box_secret, key.hint, periods.KIND, [reader.box_public])
    with pytest.raises(periods.PeriodKeyError):
        periods.open_secret(key.hint, pair.box_public, sealed, reader.box_secret)


@pytest.mark.parametrize("period", ["2026-13", "2026-00", "26-12", "2026-1", "2026-12 ", "2026/12", ""])
def test_a_period_is_a_month(period: str) -> None:
    with pytest.raises(periods.PeriodKeyError):
        _period_key(period=period)


@pytest.mark.parametrize("period", ["2026-01", "2026-09", "2026-10", "2026-12", "1999-11"])
def test_every_month_is_a_period(period: str) -> None:
    assert periods.checked(_period_key(period=period))["period"] == period


@pytest.mark.parametrize("change", [
    {"v": 2}, {"v": True}, {"extra": 1}, {"genesis": 7}, {"period": "2026-13"}, {"period": 202612},
    {"public": 1}, {"sealed": None}, {"signer": "AB" * 32}, {"signer": "ab" * 31}, {"readers": "ab" * 32},
    {"readers": ["ab" * 31]}, {"readers": [1]}, {"readers": ["AB" * 32]}, {"readers": {"ab" * 32: 1}},
])
def test_a_statement_of_another_shape_is_refused_even_well_signed(change: dict[str, Any]) -> None:
    member = crypto.generate_keypair()
    key = _period_key(member)
    if "signer" not in change:
        with pytest.raises(periods.PeriodKeyError, match="not a period key's"):
            periods.checked(_restated(key, member, change))
    else:
        with pytest.raises(periods.PeriodKeyError):
            periods.checked(_restated(key, member, change))


def test_a_statement_missing_a_field_or_not_canonical_or_not_json_is_refused() -> None:
    member = crypto.generate_keypair()
    key = _period_key(member)
    statement = json.loads(key.statement)
    for field in statement:
        shorter = {k: v for k, v in statement.items() if k != field}
        body = log.canonical(shorter)
        signed = periods.PeriodKey(key.hint, key.public, key.sealed, body, bytes(
            nacl.signing.SigningKey(member.sign_seed).sign(periods.CONTEXT + body).signature))
        with pytest.raises(periods.PeriodKeyError):
            periods.checked(signed)
    spaced = json.dumps(statement, sort_keys=True).encode()  # the same fields, not canonical
    signed = periods.PeriodKey(key.hint, key.public, key.sealed, spaced, bytes(
        nacl.signing.SigningKey(member.sign_seed).sign(periods.CONTEXT + spaced).signature))
    with pytest.raises(periods.PeriodKeyError, match="not a period key's"):
        periods.checked(signed)
    for text in (b"[1,", b"[]", b'"x"', b'{"v": 1, "v": 1}'):
        with pytest.raises(periods.PeriodKeyError):
            periods.checked(periods.PeriodKey(key.hint, key.public, key.sealed, text, key.signature))


def test_a_statement_holds_only_under_its_signer_s_signature_with_the_context() -> None:
    member = crypto.generate_keypair()
    key = _period_key(member)
    signer = nacl.signing.SigningKey(member.sign_seed)
    for signature in (bytes(64), key.signature[:-1] + bytes([key.signature[-1] ^ 1]), key.signature[:63],
                      bytes(signer.sign(key.statement).signature),  # no context
                      bytes(nacl.signing.SigningKey(crypto.generate_keypair().sign_seed).sign(
                          periods.CONTEXT + key.statement).signature)):
        with pytest.raises(periods.PeriodKeyError, match="signature"):
            periods.checked(periods.PeriodKey(key.hint, key.public, key.sealed, key.statement, signature))
    assert periods.CONTEXT == b"aidnet-period-v1\x00"


def test_a_statement_for_another_key_or_another_sealed_secret_is_refused() -> None:
    key, other = _period_key(), _period_key()
    for bad in (periods.PeriodKey(key.hint, other.public, key.sealed, key.statement, key.signature),
                periods.PeriodKey(other.hint, key.public, key.sealed, key.statement, key.signature),
                periods.PeriodKey(key.hint, key.public, other.sealed, key.statement, key.signature)):
        with pytest.raises(periods.PeriodKeyError, match="another key"):
            periods.checked(bad)


def test_a_keyring_uses_the_period_secret_the_hint_names_once_and_its_own_key_otherwise() -> None:
    own, period = crypto.generate_keypair(), crypto.generate_keypair()
    hint = periods.hint_of(period.box_public)
    asked: list[bytes] = []

    def find(wanted: bytes) -> bytes | None:
        asked.append(wanted)
        return period.box_secret if wanted == hint else None

    ring = envelope.Keyring(own.box_secret, find)
    assert repr(ring) == "Keyring(<secret>)" and own.box_secret.hex() not in repr(ring)
    rid = secrets.token_bytes(16)
    on_period = crypto.seal(b"on the period key", rid, "request", [period.box_public], hint=hint)
    direct = crypto.seal(b"to the reader", rid, "request", [own.box_public])
    unknown = crypto.seal(b"unknown hint", rid, "request", [own.box_public], hint=bytes(8))
    assert ring.secret_for(on_period) == period.box_secret and ring.secret_for(direct) == own.box_secret
    assert ring.secret_for(on_period) == period.box_secret and asked == [hint]  # asked once
    assert crypto.open_envelope(on_period, rid, "request", ring) == b"on the period key"
    assert crypto.open_envelope(direct, rid, "request", ring) == b"to the reader"
    assert crypto.open_envelope(unknown, rid, "request", ring) == b"unknown hint"  # not found: its own key
    assert asked == [hint, bytes(8)]
    alone = envelope.Keyring(own.box_secret)
    assert alone.secret_for(on_period) == own.box_secret
    with pytest.raises(crypto.DecryptionError):
        crypto.open_envelope(on_period, rid, "request", alone)
    for bad in (b"", bytes(31), bytes(33)):
        with pytest.raises(crypto.KeyFormatError):
            envelope.Keyring(bad)
    paired = keys.KeyPair(own.box_secret, own.sign_seed, periods=find)
    assert paired == own and crypto.open_envelope(on_period, rid, "request", paired.opener()) == b"on the period key"
    assert crypto.open_envelope(direct, rid, "request", own.opener()) == b"to the reader"


def test_a_version_3_envelope_has_its_hint_then_its_slots() -> None:
    period, requester = crypto.generate_keypair(), crypto.generate_keypair()
    hint = periods.hint_of(period.box_public)
    rid, parent = secrets.token_bytes(16), secrets.token_bytes(16)
    sealed = crypto.seal(b"an answer", rid, "answer", [period.box_public, requester.box_public], parent, hint=hint)
    assert sealed[:4] == b"AE\x03\x02" and sealed[4:12] == hint and envelope.VERSION_3 == 3
    assert envelope.version_of(sealed) == 3 and envelope.recipient_count(sealed) == 2
    assert crypto.key_hint(sealed) == hint
    assert crypto.open_envelope(sealed, rid, "answer", requester.box_secret, parent) == b"an answer"
    assert crypto.open_envelope(sealed, rid, "answer", period.box_secret, parent) == b"an answer"
    with pytest.raises(crypto.DecryptionError):
        crypto.open_envelope(sealed, rid, "answer", period.box_secret)  # parent bound, as in version 2
    header_end = 4 + 8 + 2 * envelope.SEALED_KEY_SIZE + envelope.COMMIT_SIZE + envelope.NONCE_SIZE
    assert envelope.recipient_count(sealed[:header_end + envelope.TAG_SIZE]) == 2
    assert envelope.recipient_count(sealed[:header_end + envelope.TAG_SIZE - 1]) == 0
    for not_v3 in (crypto.seal(b"x", rid, "request", [period.box_public]), b"AE\x03" + bytes(8), b"XE\x03\x01" + hint,
                   b""):
        assert crypto.key_hint(not_v3) is None
    assert crypto.key_hint(b"AE\x03\x01" + hint) == hint
    with pytest.raises(crypto.KeyFormatError):
        crypto.seal(b"x", rid, "request", [period.box_public], hint=bytes(9))
    assert envelope.version_of(crypto.seal(b"x", rid, "request", [period.box_public], hint=b"")) == 2
    swapped = sealed[:4] + requester.box_public[:8] + sealed[12:]  # another hint: the header no longer matches
    with pytest.raises(crypto.DecryptionError):
        crypto.open_envelope(swapped, rid, "answer", requester.box_secret, parent)


# -- offline bundles' signatures (crypto.bundles) ---------------------------------------------------------

BUNDLE = {"format": "x", "until": 5, "records": [1, "é"]}
# What a member signs, written out by hand: the context line, then the bundle in canonical JSON
# (sorted keys, no spaces, UTF-8 as it is), without the signature field.
BUNDLE_MESSAGE = b'aidnet-bundle-3\n{"format":"x","records":[1,"\xc3\xa9"],"until":5}'


def test_a_bundle_is_signed_over_its_context_and_canonical_json_and_the_signer_is_its_key() -> None:
    seed = bytes(range(32))
    key = nacl.signing.SigningKey(seed)
    signed = crypto.bundles.sign_bundle(BUNDLE, seed)
    assert {k: v for k, v in signed.items() if k != "signed"} == BUNDLE  # every field kept as it was
    assert set(signed["signed"]) == {"signer", "sig"}
    assert signed["signed"]["signer"] == bytes(key.verify_key).hex()
    assert signed["signed"]["sig"] == key.sign(BUNDLE_MESSAGE).signature.hex()
    assert crypto.bundles.bundle_signer(signed) == bytes(key.verify_key).hex()
    # Signing again replaces an old signature rather than signing over it.
    again = crypto.bundles.sign_bundle({**BUNDLE, "signed": {"signer": "00", "sig": "00"}}, seed)
    assert again == signed


def test_any_change_to_a_signed_bundle_or_a_malformed_signature_is_refused() -> None:
    seed = bytes(range(32))
    signed = crypto.bundles.sign_bundle(BUNDLE, seed)
    other = crypto.bundles.sign_bundle(BUNDLE, bytes(32))["signed"]
    sig, signer = signed["signed"]["sig"], signed["signed"]["signer"]
    changed: list[dict[str, Any]] = [
        {**signed, "until": 6},  # the expiry day moved
        {**signed, "records": [1, "e"]},
        {**signed, "extra": None},  # a field added
        {k: v for k, v in signed.items() if k != "format"},  # a field dropped
        {**signed, "signed": {"signer": other["signer"], "sig": sig}},  # someone else's key named
        {**signed, "signed": {"signer": signer, "sig": other["sig"]}},  # another key's signature
        {**signed, "signed": {"signer": signer, "sig": sig[:-2]}},  # 63 bytes
        {**signed, "signed": {"signer": signer, "sig": sig + "00"}},  # 65 bytes
        {**signed, "signed": {"signer": signer[:-2], "sig": sig}},  # a 31-byte key
        {**signed, "signed": {"signer": signer + "00", "sig": sig}},
        {**signed, "signed": {"signer": signer, "sig": "zz" * 64}},  # not hex
        {**signed, "signed": {"signer": signer}},
        {**signed, "signed": {"sig": sig}},
        {**signed, "signed": [signer, sig]},
        {**signed, "signed": None},
        {k: v for k, v in signed.items() if k != "signed"},  # never signed
    ]
    for bundle in changed:
        with pytest.raises(crypto.bundles.BundleSignatureError, match="the bundle's signature does not hold"):
            crypto.bundles.bundle_signer(bundle)
    # The context is part of what is signed: the same JSON signed without it (as a decision would be) is refused.
    bare = nacl.signing.SigningKey(seed).sign(BUNDLE_MESSAGE[len(b"aidnet-bundle-3\n"):]).signature.hex()
    with pytest.raises(crypto.bundles.BundleSignatureError):
        crypto.bundles.bundle_signer({**BUNDLE, "signed": {"signer": signer, "sig": bare}})
    assert issubclass(crypto.bundles.BundleSignatureError, crypto.CryptoError)
