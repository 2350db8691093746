"""Known answers and edges of crypto/: what an upgrade must never change, and what a mutation run found unpinned.

tests/vectors/crypto.json was made once: the version-1 envelope and the legacy key blob by the code of
commit 66c2404 (before envelopes bound their place and passphrases were normalized), the rest by this
version. If one of these tests fails, existing databases would stop opening: change the code, not the vector.
"""

from __future__ import annotations

import json
import secrets
import struct
from pathlib import Path
from typing import Any

import nacl.bindings as sodium
import pytest

import crypto
from crypto import codename, envelope, strictjson
from crypto.cards import CardError, make_card, parse_card, rotation_signature, rotation_signature_valid
from crypto.hashing import blake2b
from crypto.log import (
    LogError,
    LogState,
    apply,
    member_entry,
    new_record,
    seal_record,
    sign_proposal,
    signature_valid,
    verify,
)

VECTORS = json.loads((Path(__file__).parent / "vectors" / "crypto.json").read_text())
SECRET = bytes.fromhex(VECTORS["secret"])


# --- envelopes ------------------------------------------------------------------------------------------


def test_a_version_1_envelope_made_before_still_opens() -> None:
    v1 = VECTORS["v1"]
    sealed = bytes.fromhex(v1["envelope"])
    assert envelope.version_of(sealed) == 1
    assert crypto.open_envelope(sealed, bytes.fromhex(v1["id"]), v1["kind"], SECRET).decode() == v1["payload"]


def test_a_version_2_envelope_opens_only_in_its_place() -> None:
    v2 = VECTORS["v2"]
    sealed, record, parent = bytes.fromhex(v2["envelope"]), bytes.fromhex(v2["id"]), bytes.fromhex(v2["parent"])
    assert envelope.version_of(sealed) == 2 and envelope.recipient_count(sealed) == 2
    assert crypto.open_envelope(sealed, record, v2["kind"], SECRET, parent).decode() == v2["payload"]
    other = secrets.token_bytes(16)
    for moved in ((record, v2["kind"], other), (record, v2["kind"], b""), (other, v2["kind"], parent),
                  (record, "reply", parent)):
        with pytest.raises(crypto.DecryptionError):
            crypto.open_envelope(sealed, moved[0], moved[1], SECRET, moved[2])


def _slots(sealed: bytes) -> tuple[list[bytes], bytes]:
    """The recipient slots of a version-2 envelope, and what follows them (commitment, nonce, body)."""
    count = sealed[3]
    return [sealed[4 + i * 80: 84 + i * 80] for i in range(count)], sealed[4 + count * 80:]


def _with_slots(slots: list[bytes], rest: bytes) -> bytes:
    return b"AE" + bytes([2, len(slots)]) + b"".join(slots) + rest


def test_a_recipient_slot_stripped_or_added_fails_for_every_reader() -> None:
    reader, other = crypto.generate_keypair(), crypto.generate_keypair()
    sealed = crypto.seal(b"who gets what", b"r" * 16, "request", [reader.box_public, other.box_public])
    slots, rest = _slots(sealed)
    stripped = _with_slots(slots[:1], rest)
    added = _with_slots([*slots, sodium.crypto_box_seal(secrets.token_bytes(32), crypto.generate_keypair().box_public)],
                        rest)
    for changed in (stripped, added, _with_slots(slots[::-1], rest)):
        for keys in (reader, other):
            with pytest.raises(crypto.DecryptionError):
                crypto.open_envelope(changed, b"r" * 16, "request", keys.box_secret)


def _hand_sealed(payload: bytes, record: bytes, reader: crypto.KeyPair, key: bytes, committed_key: bytes) -> bytes:
    """A version-2 envelope made by hand, to the documented format, committing to committed_key."""
    nonce = secrets.token_bytes(24)
    header = (b"AE" + bytes([2, 1]) + sodium.crypto_box_seal(key, reader.box_public)
              + blake2b(nonce, b"aidnet-env-key", key=committed_key) + nonce)
    ad = b"AE" + bytes([2]) + struct.pack(">H", 7) + b"request" + struct.pack(">H", 16) + record + struct.pack(">H", 0)
    ad += blake2b(header, b"aidnet-env-head")
    return header + sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(envelope.pad(payload), ad, nonce, key)


def test_the_key_commitment_is_checked_after_opening() -> None:
    reader = crypto.generate_keypair()
    key = secrets.token_bytes(32)
    honest = _hand_sealed(b"one text for everyone", b"r" * 16, reader, key, key)
    assert crypto.open_envelope(honest, b"r" * 16, "request", reader.box_secret) == b"one text for everyone"
    # Same ciphertext, valid under its associated data, but committing to another key: refused.
    lying = _hand_sealed(b"one text for everyone", b"r" * 16, reader, key, secrets.token_bytes(32))
    with pytest.raises(crypto.DecryptionError):
        crypto.open_envelope(lying, b"r" * 16, "request", reader.box_secret)


def test_padding_fills_a_bucket_exactly_at_its_edge() -> None:
    for bucket in envelope.BUCKETS:
        assert len(envelope.pad(bytes(bucket - 4))) == bucket  # the frame fills it: no bigger bucket
    assert len(envelope.pad(bytes(envelope.BUCKETS[0] - 3))) == envelope.BUCKETS[1]
    assert envelope.unpad(envelope.pad(b"abc")) == b"abc"


def test_a_frame_claiming_more_than_it_holds_is_an_error_not_a_short_text() -> None:
    for frame in (struct.pack(">I", 10) + b"abc", struct.pack(">I", 2**32 - 1) + bytes(100), b"\x00\x00\x01"):
        with pytest.raises(crypto.DecryptionError):
            envelope.unpad(frame)
    assert envelope.unpad(struct.pack(">I", 3) + b"abc") == b"abc"


# --- codenames --------------------------------------------------------------------------------------------


def test_codename_known_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    known = VECTORS["codename"]
    monkeypatch.setattr(secrets, "randbits", lambda bits: int(known["draw"], 16) if bits == 84 else 0)
    assert codename.generate() == known["generated"]
    keys = codename.derive(known["generated"], bytes.fromhex(known["salt"]))
    assert keys.lookup_id.hex() == known["lookup_id"]
    assert keys.lookup_hash.hex() == known["lookup_hash"]
    assert keys.reply_public.hex() == known["reply_public"]


def test_every_84_bit_draw_is_its_own_codename(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each 12-bit word of the draw lands in its own word: flipping any one bit changes exactly one word.
    base = int(VECTORS["codename"]["draw"], 16)
    draws = iter([base] + [base ^ (1 << bit) for bit in range(84)])
    monkeypatch.setattr(secrets, "randbits", lambda bits: next(draws))
    first = codename.generate().split()
    for bit in range(84):
        words = codename.generate().split()
        changed = [i for i in range(7) if words[i] != first[i]]
        assert changed == [bit // 12], bit


# --- keys and passphrases -----------------------------------------------------------------------------------


def test_passphrases_are_nfc_normalised_and_older_keys_still_open() -> None:
    keys = crypto.generate_keypair()
    cheap = crypto.Argon2Params(1, 8192, 1)
    blob = crypto.wrap_with_passphrase(keys, "caf\u00e9 passphrase, long", cheap)  # é as one character
    assert crypto.unwrap_with_passphrase(blob, "cafe\u0301 passphrase, long").sign_public == keys.sign_public
    legacy = VECTORS["legacy_wrapped"]  # wrapped before normalization, under the decomposed form as typed
    opened = crypto.unwrap_with_passphrase(bytes.fromhex(legacy["blob"]), legacy["passphrase_nfd"])
    assert opened.sign_public.hex() == legacy["sign_public"]
    with pytest.raises(crypto.DecryptionError):
        crypto.unwrap_with_passphrase(bytes.fromhex(legacy["blob"]), "cafe passphrase, long")


def _header(magic: bytes = b"AK", version: int = 1, memory: int = 8192, time: int = 1, lanes: int = 1) -> bytes:
    return struct.pack(">2sBIBB", magic, version, memory, time, lanes) + bytes(16) + bytes(80)


@pytest.mark.parametrize("blob", [
    _header(magic=b"AS"), _header(magic=b"XX"), _header(version=2), _header(memory=7), _header(time=0),
    _header(lanes=0), _header(lanes=17), _header(memory=64, lanes=16),
    _header(memory=crypto.keys.ARGON2_MAX_MEMORY_KIB + 1), _header(time=crypto.keys.ARGON2_MAX_TIME_COST + 1),
    b"AK\x01",
])
def test_a_key_blob_outside_the_bounds_is_refused_before_any_argon2(blob: bytes) -> None:
    with pytest.raises(crypto.KeyFormatError):
        crypto.unwrap_with_passphrase(blob, "anything at all")


def test_a_key_blob_at_the_bounds_is_tried() -> None:
    for blob in (_header(memory=8, lanes=1), _header(memory=128, lanes=16, time=1)):
        with pytest.raises(crypto.DecryptionError):  # read, and the passphrase was wrong
            crypto.unwrap_with_passphrase(blob, "anything at all")


# --- cards ------------------------------------------------------------------------------------------------


def test_a_card_binds_its_box_key_and_its_fingerprint_covers_the_whole_card() -> None:
    keys, stranger = crypto.generate_keypair(), crypto.generate_keypair()
    card = make_card("olu", keys)
    assert parse_card(card.to_text()) == card
    groups = card.fingerprint.split()
    assert len(groups) == 8 and all(len(g) == 4 for g in groups) and len("".join(groups)) * 4 == 128
    swapped = card.to_text().replace(card.box, stranger.box_public.hex())
    with pytest.raises(CardError):
        parse_card(swapped)  # the box key the owner signed is not this one
    renamed = card.to_text().replace(":olu:", ":ola:")
    with pytest.raises(CardError):
        parse_card(renamed)
    fingerprints = {card.fingerprint, crypto.cards.fingerprint("olu", stranger.box_public.hex(), card.sign),
                    crypto.cards.fingerprint("ola", card.box, card.sign)}
    assert len(fingerprints) == 3


def test_a_rotation_is_signed_by_the_old_key() -> None:
    old, new, stranger = crypto.generate_keypair(), crypto.generate_keypair(), crypto.generate_keypair()
    card = make_card("olu", new)
    assert rotation_signature_valid(old.sign_public.hex(), card, rotation_signature(old, card))
    assert not rotation_signature_valid(old.sign_public.hex(), card, rotation_signature(stranger, card))
    assert not rotation_signature_valid(old.sign_public.hex(), make_card("olu", stranger), rotation_signature(old, card))


# --- strict JSON ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    '{"quorum":3,"quorum":2}', '[1.5]', '[1e3]', '[NaN]', '[Infinity]', "[" * 33 + "]" * 33,
    '{"a":' * 40 + "1" + "}" * 40, "[" * 100_000, "not json",
])
def test_strict_json_refuses_what_two_readers_could_read_differently(text: str) -> None:
    with pytest.raises(strictjson.StrictJSONError) as caught:
        strictjson.loads(text)
    assert "\n" not in str(caught.value)


def test_strict_json_reads_what_is_plain() -> None:
    assert strictjson.loads('{"a":[1,{"b":"x[{"}],"c":true}') == {"a": [1, {"b": "x[{"}], "c": True}
    assert strictjson.loads("[" * 32 + "]" * 32) is not None


# --- the log ----------------------------------------------------------------------------------------------


def _founded(names: list[str], quorum: int) -> tuple[dict[str, crypto.KeyPair], list[dict[str, Any]], LogState]:
    keys = {n: crypto.generate_keypair() for n in names}
    proposal = {"id": secrets.token_hex(16), "type": "genesis", "day": 100,
                "body": {"members": [member_entry(make_card(n, k), None) for n, k in keys.items()],
                         "quorum": quorum, "sealed": True}}
    record = new_record(LogState(), proposal, [sign_proposal(proposal, k.sign_seed) for k in keys.values()], 100)
    return keys, [record], apply(LogState(), record)


def _decided(state: LogState, kind: str, body: dict[str, Any], by: crypto.KeyPair, signers: list[crypto.KeyPair],
             day: int = 101) -> dict[str, Any]:
    proposal = {"id": secrets.token_hex(16), "type": kind, "body": body, "day": day, "by": by.sign_public.hex()}
    return new_record(state, proposal, [sign_proposal(proposal, k.sign_seed, state, today=day) for k in signers], day,
                      sealer=signers[0])


def test_a_genesis_signed_by_strangers_is_refused_even_without_a_pin() -> None:
    keys, records, _state = _founded(["ana", "ben"], 2)
    strangers = [crypto.generate_keypair(), crypto.generate_keypair()]
    genesis = dict(records[0])
    genesis["signatures"] = [sign_proposal(genesis["proposal"], k.sign_seed) for k in strangers]
    with pytest.raises(LogError, match="signed by every founding member"):
        verify([genesis])
    genesis["signatures"] = [sign_proposal(genesis["proposal"], keys["ana"].sign_seed)]  # one founder of two
    with pytest.raises(LogError, match="signed by every founding member"):
        verify([genesis])


def test_a_genesis_with_a_key_twice_or_a_boolean_quorum_is_refused() -> None:
    _keys, records, _state = _founded(["ana"], 1)
    text = json.dumps(records)
    with pytest.raises(LogError, match="twice"):
        verify(crypto.log.parse(text.replace('"quorum": 1', '"quorum": 3, "quorum": 1')))
    boolean = json.loads(text.replace('"quorum": 1', '"quorum": true'))
    with pytest.raises(LogError):
        verify(boolean)


@pytest.mark.parametrize("bad", [
    None, "x", [], {}, {"signer": "00" * 32, "sig": "00" * 64}, {"signer": "zz" * 32, "sig": "00" * 64, "seen": ""},
    {"signer": "00" * 32, "sig": "00" * 63, "seen": ""}, {"signer": "00" * 32, "sig": "00" * 64, "seen": "", "x": 1},
    {"signer": "00" * 32, "sig": "00" * 64, "seen": "", "until": True},
    {"signer": "00" * 32, "sig": "00" * 64, "seen": "", "until": -1},
    {"signer": 5, "sig": "00" * 64, "seen": ""}, {"signer": "00" * 32, "sig": ["00"], "seen": ""},
])
def test_a_malformed_signature_is_never_valid(bad: Any) -> None:
    keys, _records, state = _founded(["ana"], 1)
    proposal = {"id": secrets.token_hex(16), "type": "set_quorum", "body": {"quorum": 1}, "day": 101,
                "by": keys["ana"].sign_public.hex()}
    assert not signature_valid(proposal, bad, state)
    assert not signature_valid(proposal, bad, state, 101)
    assert state.valid_signers(proposal, [bad], 101) == set()
    good = sign_proposal(proposal, keys["ana"].sign_seed, state, today=101)
    assert signature_valid(proposal, good, state, 101)
    assert not signature_valid(proposal, good, state, 101 + crypto.log.SIGNATURE_DAYS + 1)  # past its last day


def test_a_signature_past_its_last_day_does_not_finalize() -> None:
    keys, records, state = _founded(["ana", "ben"], 2)
    proposal = {"id": secrets.token_hex(16), "type": "set_quorum", "body": {"quorum": 1}, "day": 101,
                "by": keys["ana"].sign_public.hex()}
    early = sign_proposal(proposal, keys["ben"].sign_seed, state, today=101, days=1)  # counts until day 102
    late = sign_proposal(proposal, keys["ana"].sign_seed, state, today=1100)
    record = new_record(state, proposal, [early, late], 1100, sealer=keys["ana"])
    with pytest.raises(LogError, match="after its last day"):
        apply(state, record)
    assert state.valid_signers(proposal, [early, late], 1100) == {keys["ana"].sign_public.hex()}
    on_time = new_record(state, proposal, [early, sign_proposal(proposal, keys["ana"].sign_seed, state, today=101)],
                         102, sealer=keys["ana"])
    assert apply(state, on_time).quorum == 1


def test_an_edited_signature_day_breaks_the_signature() -> None:
    keys, _records, state = _founded(["ana"], 1)
    proposal = {"id": secrets.token_hex(16), "type": "set_quorum", "body": {"quorum": 1}, "day": 101,
                "by": keys["ana"].sign_public.hex()}
    signature = sign_proposal(proposal, keys["ana"].sign_seed, state, today=101)
    assert not signature_valid(proposal, {**signature, "until": signature["until"] + 1000}, state)


def test_a_record_moved_to_another_place_breaks_its_seal() -> None:
    keys, records, state = _founded(["ana", "ben", "cai"], 2)
    ana, ben = keys["ana"], keys["ben"]
    first = _decided(state, "set_quorum", {"quorum": 2}, ana, [ana, ben])
    after = apply(state, first)
    # Signed from the same bundle as the first (both saw the genesis), so the signatures alone allow
    # either order; only the seal says where it landed.
    removal = {"id": secrets.token_hex(16), "type": "remove_member", "body": {"sign": keys["cai"].sign_public.hex()},
               "day": 101, "by": ana.sign_public.hex()}
    second = new_record(after, removal, [sign_proposal(removal, k.sign_seed, state, today=101) for k in (ana, ben)],
                        101, sealer=ana)
    assert verify([*records, first, second]).quorum == 2
    moved = {**second, "seq": 1, "prev": state.head}  # the first one dropped, the second re-chained after genesis
    with pytest.raises(LogError, match="seal"):
        verify([*records, moved])
    unsealed = {k: v for k, v in second.items() if k != "seal"}
    with pytest.raises(LogError, match="seal"):
        verify([*records, first, unsealed])
    resealed_by_stranger = {**moved, "seal": seal_record(moved, state.genesis, crypto.generate_keypair().sign_seed)}
    with pytest.raises(LogError, match="sealed by someone"):
        verify([*records, resealed_by_stranger])


def test_a_log_cut_short_fails_against_a_head_seen_before() -> None:
    keys, records, state = _founded(["ana"], 1)
    ana = keys["ana"]
    first = _decided(state, "set_quorum", {"quorum": 1}, ana, [ana])
    after = apply(state, first)
    with pytest.raises(LogError, match="does not extend"):
        verify(records, state.genesis, after.head)
    assert verify([*records, first], state.genesis, state.head).head == after.head


def test_a_second_dispute_on_the_same_decision_is_refused_and_a_hand_over_applies() -> None:
    keys, records, state = _founded(["ana"], 1)
    ana = keys["ana"]
    allocation = _decided(state, "allocation", {"request": "ab" * 16, "source": {"kind": "stock", "ref": None},
                                                "note": None}, ana, [ana])
    state = apply(state, allocation)
    pid = allocation["proposal"]["id"]
    hand_over = _decided(state, "distribution", {"request": "ab" * 16, "allocation": pid, "note": None}, ana, [ana])
    after = apply(state, hand_over)
    assert after.decisions[hand_over["proposal"]["id"]] == "distribution"
    bogus = _decided(state, "distribution", {"request": "ab" * 16, "allocation": "cd" * 16, "note": None}, ana, [ana])
    with pytest.raises(LogError, match="must reference an allocation"):
        apply(state, bogus)

    def dispute(at: LogState) -> dict[str, Any]:
        proposal = {"id": secrets.token_hex(16), "type": "dispute", "day": 102, "by": "requester",
                    "body": {"decision": pid, "raised_by": "requester", "note": None}}
        return new_record(at, proposal, [], 102, sealer=ana)

    disputed = apply(state, dispute(state))
    assert list(disputed.open_disputes.values()) == [pid]
    with pytest.raises(LogError, match="already has an open dispute"):
        apply(disputed, dispute(disputed))
