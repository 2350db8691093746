"""crypto/: round trips, and every tampering fails with the one typed error."""

from __future__ import annotations

import ast
import pathlib
import sys
import threading
import time

import pytest

import crypto
from crypto import codename, envelope, keys

FAST = crypto.Argon2Params(time_cost=1, memory_kib=8192, parallelism=1)
RID = b"r" * 16


@pytest.fixture(scope="module")
def alice() -> crypto.KeyPair:
    return crypto.generate_keypair()


@pytest.fixture(scope="module")
def bob() -> crypto.KeyPair:
    return crypto.generate_keypair()


def test_round_trip_for_each_recipient(alice: crypto.KeyPair, bob: crypto.KeyPair) -> None:
    sealed = crypto.seal("Bread ✓ خبز".encode(), RID, "request", [alice.box_public, bob.box_public])
    assert crypto.recipient_count(sealed) == 2
    for who in (alice, bob):
        assert crypto.open_envelope(sealed, RID, "request", who.box_secret) == "Bread ✓ خبز".encode()


def test_empty_payload_round_trips(alice: crypto.KeyPair) -> None:
    sealed = crypto.seal(b"", RID, "request", [alice.box_public])
    assert crypto.open_envelope(sealed, RID, "request", alice.box_secret) == b""


def test_padding_hides_length_within_a_bucket(alice: crypto.KeyPair) -> None:
    short = crypto.seal(b"x", RID, "request", [alice.box_public])
    longer = crypto.seal(b"x" * 400, RID, "request", [alice.box_public])
    assert len(short) == len(longer)


def test_oversized_payload_refused(alice: crypto.KeyPair) -> None:
    with pytest.raises(ValueError):
        crypto.seal(b"x" * (envelope.MAX_PAYLOAD + 1), RID, "request", [alice.box_public])


def test_no_recipients_refused() -> None:
    with pytest.raises(crypto.KeyFormatError):
        crypto.seal(b"x", RID, "request", [])


def test_every_flipped_byte_fails_with_decryption_error(alice: crypto.KeyPair) -> None:
    sealed = crypto.seal(b"secret", RID, "request", [alice.box_public])
    header_end = 4 + envelope.SEALED_KEY_SIZE
    # Header, sealed key, nonce, ciphertext body and the final tag byte.
    positions = [0, 2, 3, 4, header_end - 1, header_end, header_end + envelope.NONCE_SIZE, len(sealed) - 1]
    for i in positions:
        tampered = bytearray(sealed)
        tampered[i] ^= 0x01
        with pytest.raises(crypto.DecryptionError):
            crypto.open_envelope(bytes(tampered), RID, "request", alice.box_secret)


def test_moved_to_another_record_or_kind_fails(alice: crypto.KeyPair) -> None:
    sealed = crypto.seal(b"secret", RID, "request", [alice.box_public])
    with pytest.raises(crypto.DecryptionError):
        crypto.open_envelope(sealed, b"s" * 16, "request", alice.box_secret)
    with pytest.raises(crypto.DecryptionError):
        crypto.open_envelope(sealed, RID, "reply", alice.box_secret)


def test_wrong_key_fails(alice: crypto.KeyPair, bob: crypto.KeyPair) -> None:
    sealed = crypto.seal(b"secret", RID, "request", [alice.box_public])
    with pytest.raises(crypto.DecryptionError):
        crypto.open_envelope(sealed, RID, "request", bob.box_secret)


@pytest.mark.parametrize("cut", [0, 1, 3, 4, 50, 84, 108, 120, -1])
def test_truncated_fails(alice: crypto.KeyPair, cut: int) -> None:
    sealed = crypto.seal(b"secret", RID, "request", [alice.box_public])
    with pytest.raises(crypto.DecryptionError):
        crypto.open_envelope(sealed[:cut], RID, "request", alice.box_secret)


def test_appended_bytes_fail(alice: crypto.KeyPair) -> None:
    sealed = crypto.seal(b"secret", RID, "request", [alice.box_public])
    with pytest.raises(crypto.DecryptionError):
        crypto.open_envelope(sealed + b"\0", RID, "request", alice.box_secret)


def test_errors_share_one_base() -> None:
    for error in (crypto.DecryptionError, crypto.KeyFormatError, crypto.CodenameError):
        assert issubclass(error, crypto.CryptoError)


def test_passphrase_wrap_round_trip_and_wrong_passphrase(alice: crypto.KeyPair) -> None:
    blob = crypto.wrap_with_passphrase(alice, "a long passphrase", FAST)
    assert crypto.unwrap_with_passphrase(blob, "a long passphrase") == alice
    with pytest.raises(crypto.DecryptionError):
        crypto.unwrap_with_passphrase(blob, "a long passphrasE")
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(crypto.DecryptionError):
        crypto.unwrap_with_passphrase(bytes(tampered), "a long passphrase")


def test_wrapped_blob_cannot_demand_huge_memory(alice: crypto.KeyPair) -> None:
    blob = bytearray(crypto.wrap_with_passphrase(alice, "pw pw pw pw", FAST))
    blob[3:7] = (2**31).to_bytes(4, "big")
    with pytest.raises(crypto.KeyFormatError):
        crypto.unwrap_with_passphrase(bytes(blob), "pw pw pw pw")


def test_default_argon2_is_rfc9106_strength() -> None:
    params = crypto.Argon2Params()
    assert (params.time_cost, params.memory_kib, params.parallelism) == (3, 65536, 4)


def test_session_wrap(alice: crypto.KeyPair) -> None:
    key = crypto.new_session_key()
    blob = crypto.wrap_with_key(alice, key)
    assert crypto.unwrap_with_key(blob, key) == alice
    with pytest.raises(crypto.DecryptionError):
        crypto.unwrap_with_key(blob, crypto.new_session_key())
    with pytest.raises(crypto.DecryptionError):
        crypto.unwrap_with_key(blob[:-1], key)


def test_secrets_never_in_repr(alice: crypto.KeyPair) -> None:
    assert alice.box_secret.hex() not in repr(alice)
    keys = crypto.derive_codename(crypto.generate_codename(), b"s" * 32)
    assert "secret" in repr(keys) and keys.reply_secret.hex() not in repr(keys)


def test_codename_has_at_least_80_bits() -> None:
    assert codename.BITS >= 80
    assert len(codename.CONSONANTS) == 16 and len(codename.VOWELS) == 4
    names = {crypto.generate_codename() for _ in range(500)}
    assert len(names) == 500
    assert all(len(n.split()) == codename.WORD_COUNT for n in names)


def test_codename_normalization_forgives_spacing_and_case() -> None:
    name = crypto.generate_codename()
    typed = "  " + name.upper().replace(" ", " - ") + "\n"
    assert crypto.normalize_codename(typed) == name
    salt = b"s" * 32
    assert crypto.derive_codename(typed, salt).lookup_id == crypto.derive_codename(name, salt).lookup_id


@pytest.mark.parametrize("bad", ["", "bako", "bako " * 8, "xxxx " * 7, "бако " * 7, "1234 " * 7])
def test_malformed_codename_refused(bad: str) -> None:
    with pytest.raises(crypto.CodenameError):
        crypto.normalize_codename(bad)


def test_codename_derivation_depends_on_salt_and_name() -> None:
    name = crypto.generate_codename()
    a = crypto.derive_codename(name, b"a" * 32)
    b = crypto.derive_codename(name, b"b" * 32)
    c = crypto.derive_codename(crypto.generate_codename(), b"a" * 32)
    assert len({a.lookup_id, b.lookup_id, c.lookup_id}) == 3
    assert a.lookup_hash != a.lookup_id and len(a.reply_public) == 32


def test_reply_sealed_to_codename_opens_only_with_it() -> None:
    name = crypto.generate_codename()
    keys = crypto.derive_codename(name, b"s" * 32)
    sealed = crypto.seal(b"we can bring it friday", RID, "reply", [keys.reply_public])
    again = crypto.derive_codename(name, b"s" * 32)
    assert crypto.open_envelope(sealed, RID, "reply", again.reply_secret) == b"we can bring it friday"
    other = crypto.derive_codename(crypto.generate_codename(), b"s" * 32)
    with pytest.raises(crypto.DecryptionError):
        crypto.open_envelope(sealed, RID, "reply", other.reply_secret)


def test_crypto_imports_only_stdlib_nacl_and_argon2() -> None:
    allowed = {"nacl", "argon2"} | set(sys.stdlib_module_names)
    for source in pathlib.Path(crypto.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{source.name} imports {name}"


def test_argon2_runs_at_most_two_at_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight server threads logging in at once hold 2 x 64 MiB, not 8 x 64 MiB."""
    running, most, lock = 0, 0, threading.Lock()

    def fake_hash(*_args: object, **_kwargs: object) -> bytes:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return bytes(32)

    monkeypatch.setattr(keys, "hash_secret_raw", fake_hash)
    threads = [threading.Thread(target=keys.burn_argon2) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == keys.ARGON2_AT_ONCE == 2
