"""The decision log decides who reads and what is allocated; tampering of every kind is caught."""

from __future__ import annotations

import copy
import json
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.group import Group, details, opens, reader
from helpers.instance import PASSPHRASE, add_coordinator, make_instance

import crypto
from aidnet import dates
from aidnet.config import ConfigError
from aidnet.decisions import membership, notes, proposals
from aidnet.decisions.proposals import DecisionRefused
from aidnet.records import conversation, coordinators, offers, requests, retention
from aidnet.sealing import readers
from aidnet.sealing.reseal import reseal_all
from aidnet.store import Store, counters, open_store
from aidnet.store import accounts as account_rows
from aidnet.store import decision_log as log_rows
from aidnet.store import offers as offer_rows
from aidnet.store import requests as request_rows
from aidnet.store import retention as retention_rows
from aidnet.web.app import create_app
from crypto.log import LogError, LogState, apply, new_record, sign_proposal, verify
from crypto.notes import NOTE_KIND


@pytest.fixture
def group(tmp_path: Path) -> Iterator[Group]:
    g = Group(tmp_path, ["ana", "ben", "cai"], quorum=2)
    yield g
    g.close()


def test_genesis_readers_are_the_founders(group: Group) -> None:
    for keys in group.keys.values():
        assert opens(group.store, keys, group.settings)
    state = verify(group.records(), group.genesis)
    assert state.quorum == 2 and len(state.members) == 3


def test_a_row_inserted_in_the_database_gains_no_reader(group: Group) -> None:
    intruder = crypto.generate_keypair()
    with group.store.write() as tx:
        account_rows.insert_coordinator(tx, "intruder", intruder.box_public, intruder.sign_public, b"x")
    assert intruder.box_public in account_rows.box_keys(group.store)
    assert not opens(group.store, intruder, group.settings)


def test_membership_needs_quorum_then_new_requests_are_sealed_to_them(group: Group) -> None:
    dee = crypto.generate_keypair()
    proposal = proposals.new_proposal("add_member", {"member": group.card("dee", dee)}, group.keys["ana"])
    assert not proposals.propose(group.store, group.settings, group.keys["ana"], proposal)  # 1 of 2: pending
    assert not opens(group.store, dee, group.settings)
    assert proposals.sign(group.store, group.settings, proposal["id"], group.keys["ben"])  # 2 of 2: final
    assert opens(group.store, dee, group.settings)
    assert not proposals.sign(group.store, group.settings, proposal["id"], group.keys["cai"])  # already final


def test_removal_and_reseal_shut_the_removed_key_out(group: Group) -> None:
    for i in range(3):
        requests.submit_request(group.store, group.settings, details(f"open {i}"), f"nonce-{i:02d}-xxxxxxxxxxxx")
    group.decide("remove_member", {"sign": group.keys["cai"].sign_public.hex()}, ["ana", "ben"])
    assert not opens(group.store, group.keys["cai"], group.settings)
    resealed, skipped = reseal_all(group.store, group.keys["ana"])
    assert resealed >= 3 and skipped == 0
    for row in request_rows.page(group.store, 0, 100):
        with pytest.raises(crypto.DecryptionError):
            crypto.open_envelope(row.envelope, row.id, requests.KIND_REQUEST, reader(group.store, group.keys["cai"]))
        assert crypto.open_envelope(row.envelope, row.id, requests.KIND_REQUEST, reader(group.store, group.keys["ben"]))


def test_a_removal_in_another_process_is_caught_at_commit(group: Group) -> None:
    """A submission may seal to the readers this process verified a moment ago, without reading
    the log; if another process removed a member meanwhile, the commit notices and it seals again."""
    requests.submit_request(group.store, group.settings, details("warm"), "nonce-warm-xxxxxxxxxxxx")
    before = readers.current(group.store)  # what this process verified, with cai still a member
    group.decide("remove_member", {"sign": group.keys["cai"].sign_public.hex()}, ["ana", "ben"])
    readers.remember(group.store, before)  # as if the removal had been made by another process
    assert readers.readers(group.store, recheck=False)[0] == before.recipients(dates.today())
    requests.submit_request(group.store, group.settings, details("after removal"), "nonce-after-xxxxxxxxxxx")
    newest = request_rows.page(group.store, 0, 1)[0]
    with pytest.raises(crypto.DecryptionError):
        crypto.open_envelope(newest.envelope, newest.id, requests.KIND_REQUEST, group.keys["cai"].box_secret)
    assert crypto.open_envelope(newest.envelope, newest.id, requests.KIND_REQUEST, group.keys["ana"].box_secret)


def test_a_log_swapped_for_one_just_as_long_is_caught_at_commit(group: Group) -> None:
    """Within the second a submission may skip reading the log, the commit still compares the head."""
    requests.submit_request(group.store, group.settings, details("warm"), "nonce-warm-xxxxxxxxxxxx")
    records = group.records()
    forged = copy.deepcopy(records[-1])
    forged["proposal"]["body"]["quorum"] = 1  # same length, another head
    with group.store.write() as tx:
        tx.execute("UPDATE log SET record = ? WHERE seq = ?", (crypto.log.canonical(forged), forged["seq"]))
    count = request_rows.count(group.store)
    with pytest.raises(LogError):
        requests.submit_request(group.store, group.settings, details("after the swap"), "nonce-swap-xxxxxxxxxxxx")
    assert request_rows.count(group.store) == count


def test_removed_member_signature_does_not_count(group: Group) -> None:
    group.decide("remove_member", {"sign": group.keys["cai"].sign_public.hex()}, ["ana", "ben"])
    proposal = proposals.new_proposal("set_quorum", {"quorum": 1}, group.keys["ana"])
    proposals.propose(group.store, group.settings, group.keys["ana"], proposal)
    with pytest.raises(DecisionRefused):
        proposals.sign(group.store, group.settings, proposal["id"], group.keys["cai"])  # not a member: refused
    assert log_rows.proposal(group.store, proposal["id"]).state == "pending"


def test_sunset_lapses_then_renewal_restores(tmp_path: Path) -> None:
    today = dates.today()
    g = Group(tmp_path, ["ana", "ben"], quorum=1)
    eve = crypto.generate_keypair()
    g.keys["eve"] = eve
    g.decide("add_member", {"member": g.card("eve", eve, until=today - 1)}, ["ana"])
    assert not opens(g.store, eve, g.settings)  # term ended yesterday
    g.decide("renew_member", {"sign": eve.sign_public.hex(), "until": today + 365}, ["ben"])
    assert opens(g.store, eve, g.settings)
    g.store.close()


def test_dispute_stays_open_until_a_signed_resolution(group: Group) -> None:
    requests.submit_request(group.store, group.settings, details(), "nonce-dispute-xxxxxxxx")
    request_id = request_rows.page(group.store, 0, 1)[0].id.hex()
    allocation = group.decide("allocation", {"request": request_id, "source": {"kind": "stock", "ref": None},
                                             "note": None}, ["ana", "ben"])
    assert request_rows.by_id(group.store, bytes.fromhex(request_id)).status == "allocated"
    dispute = proposals.new_proposal("dispute", {"decision": allocation, "note": None}, group.keys["cai"])
    assert proposals.propose(group.store, group.settings, group.keys["cai"], dispute)  # needs no quorum
    assert dispute["id"] in verify(group.records()).open_disputes
    group.decide("resolution", {"dispute": dispute["id"], "outcome": "upheld", "note": None}, ["ben", "cai"])
    assert verify(group.records()).open_disputes == {}
    events = {row[3] for row in counters.all_counters(group.store)}
    assert {"allocated", "dispute_raised", "dispute_resolved"} <= events


def test_decisions_carry_no_clear_content(group: Group) -> None:
    requests.submit_request(group.store, group.settings, details(), "nonce-note-xxxxxxxxxxx")
    request_id = request_rows.page(group.store, 0, 1)[0].id.hex()
    proposal = proposals.new_proposal("allocation", {"request": request_id}, group.keys["ana"])
    proposal["body"]["note"] = notes.seal_note(group.store, proposal["id"], "NOTEMARKER give the blue bag",
                                                    request_id)
    proposal["body"]["source"] = {"kind": "money", "ref": None}
    proposals.propose(group.store, group.settings, group.keys["ana"], proposal)
    proposals.sign(group.store, group.settings, proposal["id"], group.keys["cai"])
    text = json.dumps(group.records())
    assert "NOTEMARKER" not in text and "tins of beans" not in text
    assert notes.open_note(group.store, proposal["id"], proposal["body"]["note"], group.keys["ben"]) == \
        "NOTEMARKER give the blue bag"
    # The note is erased with its request; the log keeps only its hash and still verifies.
    with group.store.write() as tx:
        tx.execute("DELETE FROM requests WHERE id = ?", (bytes.fromhex(request_id),))
    assert log_rows.note_for(group.store, proposal["id"]) is None
    verify(group.records())


def test_two_workers_signing_at_once_finalize_exactly_once(group: Group) -> None:
    proposal = proposals.new_proposal("set_quorum", {"quorum": 3}, group.keys["ana"])
    with group.store.write() as tx:
        log_rows.insert_proposal(tx, proposal, [sign_proposal(proposal, group.keys["ana"].sign_seed,
                                                              readers.current(group.store), today=dates.today())])
    results: list[bool] = []
    barrier = threading.Barrier(2)

    def worker(name: str) -> None:
        store = Store(group.settings.database, group.settings.db_key, group.settings.lock_file)
        try:
            barrier.wait()
            results.append(proposals.sign(store, group.settings, proposal["id"], group.keys[name]))
        finally:
            store.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("ben", "cai")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, True]
    records = group.records()
    assert [r["proposal"]["id"] for r in records].count(proposal["id"]) == 1
    assert verify(records).quorum == 3


def test_app_refuses_to_start_on_a_tampered_log(group: Group) -> None:
    group.decide("set_quorum", {"quorum": 3}, ["ana", "ben"])
    record = group.records()[1]
    record["proposal"]["body"]["quorum"] = 1
    with group.store.write() as tx:
        tx.execute("UPDATE log SET record = ? WHERE seq = 1", (crypto.log.canonical(record),))
    with pytest.raises(ConfigError, match="does not verify"):
        create_app(group.settings)
    # A running process that already verified it refuses to seal with it too.
    with pytest.raises(LogError):
        readers.recipients(group.store)


# The verifier, record by record.


def _founded(n: int = 3, quorum: int = 2) -> tuple[list[dict[str, object]], dict[str, crypto.KeyPair]]:
    keys = {f"k{i}": crypto.generate_keypair() for i in range(n)}
    members = [{"handle": h, "box": k.box_public.hex(), "sign": k.sign_public.hex(), "until": None} for h, k in keys.items()]
    genesis = {"id": "00" * 16, "type": "genesis", "body": {"members": members, "quorum": quorum}, "day": 1}
    records = [new_record(LogState(), genesis, [sign_proposal(genesis, k.sign_seed) for k in keys.values()], 1)]
    return records, keys


def _append(records: list[dict[str, object]], kind: str, body: dict[str, object], signers: list[crypto.KeyPair],
            pid: str) -> dict[str, object]:
    state = verify(records)
    proposal = {"id": pid, "type": kind, "body": body, "day": 2}
    record = new_record(state, proposal, [sign_proposal(proposal, k.sign_seed, state) for k in signers], 2)
    records.append(record)
    return record


@pytest.fixture
def chain() -> tuple[list[dict[str, object]], dict[str, crypto.KeyPair]]:
    records, keys = _founded()
    _append(records, "allocation", {"request": "ab" * 16, "source": {"kind": "stock", "ref": None}, "note": None},
            [keys["k0"], keys["k1"]], "11" * 16)
    _append(records, "set_quorum", {"quorum": 3}, [keys["k1"], keys["k2"]], "22" * 16)
    _append(records, "allocation", {"request": "cd" * 16, "source": {"kind": "money", "ref": None}, "note": None},
            [keys["k0"], keys["k1"], keys["k2"]], "33" * 16)
    verify(records)
    return records, keys


def test_edited_record_is_caught(chain) -> None:  # type: ignore[no-untyped-def]
    records, _ = chain
    bad = copy.deepcopy(records)
    bad[1]["proposal"]["body"]["request"] = "ee" * 16
    with pytest.raises(LogError, match="signature does not match|hash chain"):
        verify(bad)


def test_reordered_dropped_and_replayed_records_are_caught(chain) -> None:  # type: ignore[no-untyped-def]
    records, _ = chain
    with pytest.raises(LogError):
        verify([records[0], records[2], records[1], records[3]])
    with pytest.raises(LogError):
        verify([records[0], records[1], records[3]])
    replay = copy.deepcopy(records[1])
    replay["seq"], replay["prev"] = 4, crypto.log.digest(records[3])
    with pytest.raises(LogError, match="replays"):
        verify([*records, replay])


def test_non_member_and_foreign_signatures_are_caught(chain) -> None:  # type: ignore[no-untyped-def]
    records, keys = chain
    outsider = crypto.generate_keypair()
    bad = copy.deepcopy(records)
    _append(bad, "set_quorum", {"quorum": 2}, [keys["k0"], keys["k1"], outsider], "44" * 16)
    with pytest.raises(LogError, match="non-member"):
        verify(bad)
    # A signature over another decision, attached to this one.
    bad = copy.deepcopy(records)
    last = bad[-1]
    last["signatures"][0]["sig"] = records[1]["signatures"][0]["sig"]
    with pytest.raises(LogError, match="does not match"):
        verify(bad)


def test_below_quorum_is_caught(chain) -> None:  # type: ignore[no-untyped-def]
    records, keys = chain
    bad = copy.deepcopy(records)
    _append(bad, "allocation", {"request": "ef" * 16, "source": {"kind": "money", "ref": None}, "note": None},
            [keys["k0"], keys["k1"]], "55" * 16)  # quorum is 3 now
    with pytest.raises(LogError, match="2 of 3"):
        verify(bad)


def test_removed_member_signature_is_caught_by_the_verifier() -> None:
    records, keys = _founded(3, 2)
    _append(records, "remove_member", {"sign": keys["k2"].sign_public.hex()}, [keys["k0"], keys["k1"]], "66" * 16)
    _append(records, "set_quorum", {"quorum": 1}, [keys["k0"], keys["k2"]], "77" * 16)
    with pytest.raises(LogError, match="non-member"):
        verify(records)


def test_a_substituted_log_fails_the_genesis_pin(chain) -> None:  # type: ignore[no-untyped-def]
    records, _ = chain
    other, _ = _founded()
    with pytest.raises(LogError, match="genesis"):
        verify(other, crypto.log.digest(records[0]))
    assert verify(records, crypto.log.digest(records[0])).seq == 3


def test_genesis_must_be_signed_by_every_founder() -> None:
    records, keys = _founded()
    records[0]["signatures"] = records[0]["signatures"][:2]
    with pytest.raises(LogError, match="every founding member"):
        verify(records)


def test_quorum_cannot_exceed_members() -> None:
    records, keys = _founded(2, 2)
    with pytest.raises(LogError):
        _append(records, "remove_member", {"sign": keys["k1"].sign_public.hex()}, [keys["k0"], keys["k1"]], "88" * 16)
        verify(records)


def test_apply_refuses_unknown_fields_and_floats() -> None:
    records, _ = _founded()
    bad = copy.deepcopy(records)
    bad[0]["extra"] = 1
    with pytest.raises(LogError):
        verify(bad)
    with pytest.raises(LogError):
        crypto.log.canonical({"x": 1.5})
    with pytest.raises(LogError):
        apply(LogState(), {"seq": 0})


def test_key_rotation_takes_effect_at_quorum(tmp_path: Path) -> None:
    settings = make_instance(tmp_path / "inst")
    add_coordinator(settings, "alice", PASSPHRASE)
    store = open_store(settings)
    old = crypto.unwrap_with_passphrase(account_rows.by_handle(store, "alice").wrapped_keys, PASSPHRASE)
    with pytest.raises(DecisionRefused, match="wrong passphrase"):
        membership.propose_rotation(store, settings, "alice", "not it at all", "a new passphrase here")
    with pytest.raises(coordinators.WeakPassphrase):  # new keys never under the passphrase of the old ones
        membership.propose_rotation(store, settings, "alice", PASSPHRASE, PASSPHRASE)
    with pytest.raises(coordinators.WeakPassphrase):
        membership.propose_rotation(store, settings, "alice", PASSPHRASE, "too short")
    new_passphrase = "a new passphrase for new keys"
    assert membership.propose_rotation(store, settings, "alice", PASSPHRASE, new_passphrase)  # quorum 1: final at once
    wrapped = account_rows.by_handle(store, "alice").wrapped_keys
    with pytest.raises(crypto.CryptoError):  # the old passphrase opens nothing any more
        crypto.unwrap_with_passphrase(wrapped, PASSPHRASE)
    new = crypto.unwrap_with_passphrase(wrapped, new_passphrase)
    assert new != old
    assert opens(store, new, settings) and not opens(store, old, settings)
    assert store.conn.execute("SELECT next_keys FROM coordinators").fetchone()[0] is None
    store.close()


def _sealing_then(monkeypatch: pytest.MonkeyPatch, event: Any) -> list[int]:
    """crypto.seal as it is, but right after its first call `event()` happens (a decision, midnight)."""
    real, calls = crypto.seal, [0]

    def seal(*args: Any, **kwargs: Any) -> bytes:
        sealed = real(*args, **kwargs)
        calls[0] += 1
        if calls[0] == 1:
            event()
        return sealed

    monkeypatch.setattr(crypto, "seal", seal)
    return calls


def _stored(group: Group, what: str) -> tuple[bytes, bytes, str]:
    if what == "request":
        row = request_rows.page(group.store, 0, 1)[0]
        return row.id, row.envelope, requests.KIND_REQUEST
    rows = offer_rows.open_offers(group.store) if what == "offer" else offer_rows.stock_rows(group.store)
    return rows[0].id, rows[0].envelope, offers.KIND_OFFER if what == "offer" else offers.KIND_STOCK


def _write(group: Group, what: str) -> None:
    if what == "request":
        requests.submit_request(group.store, group.settings, details("sealed at 23:59"), "nonce-midnight-xxxxxxxx")
    elif what == "offer":
        offers.submit_offer(group.store, group.settings,
                            offers.OfferDetails("goods", "food", "north", "two bags of rice", ""), "nonce-offer-xxxxxxxxxxx")
    else:
        offers.record_stock(group.store, group.settings, "goods", "food", 3, "rice")


@pytest.mark.parametrize("what", ["request", "offer", "stock"])
def test_a_term_ending_at_midnight_between_sealing_and_commit_seals_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what: str) -> None:
    today = dates.today()
    g = Group(tmp_path, ["ana", "ben"], quorum=1)
    eve = crypto.generate_keypair()
    g.decide("add_member", {"member": g.card("eve", eve, until=today)}, ["ana"])  # her last day is today
    tomorrow = []
    monkeypatch.setattr(dates, "today", lambda: today + len(tomorrow))
    calls = _sealing_then(monkeypatch, lambda: tomorrow.append(1))  # sealed at 23:59, committed at 00:00
    try:
        _write(g, what)
        assert calls[0] == 2  # sealed again once the day had turned
        record_id, envelope, kind = _stored(g, what)
        with pytest.raises(crypto.DecryptionError):
            crypto.open_envelope(envelope, record_id, kind, eve.box_secret)
        assert crypto.open_envelope(envelope, record_id, kind, g.keys["ana"].box_secret)
    finally:
        g.store.close()


def _prepared(group: Group, what: str) -> tuple[Any, Any]:
    """(write it, read back (id, envelope, kind)) for the kinds of record that hang on a request or decision."""
    if what in ("offer", "stock"):
        return (lambda: _write(group, what)), (lambda: (*_stored(group, what), b""))
    codename = requests.submit_request(group.store, group.settings, details("asks"), "nonce-asks-xxxxxxxxxxxx")
    request = request_rows.page(group.store, 0, 1)[0].id
    if what == "answer":
        return (lambda: conversation.answer(group.store, group.settings, codename, "an answer", "nonce-answer-xxxxxxxxxx"),
                lambda: (*request_rows.answers_for(group.store, request)[0][:2], conversation.KIND_ANSWER, request))
    if what == "extension":
        days = group.settings.policy.max_extension_days  # beyond the usual retention: a real extension
        return (lambda: retention.extend(group.store, group.settings, request.hex(), days, "a reason"),
                lambda: (retention_rows.extensions_for(group.store, request)[0][0],
                         retention_rows.extensions_for(group.store, request)[0][2], retention.KIND_EXTENSION, request))
    pid = secrets.token_hex(16)
    return (lambda: notes.seal_note(group.store, pid, "a decision note", request.hex()),
            lambda: (bytes.fromhex(pid), log_rows.note_for(group.store, pid)[0], NOTE_KIND, request))


@pytest.mark.parametrize("what", ["offer", "stock", "answer", "extension", "note"])
def test_a_removal_landing_while_sealing_is_caught_at_commit(group: Group, monkeypatch: pytest.MonkeyPatch,
                                                             what: str) -> None:
    write, stored = _prepared(group, what)
    removal = {"sign": group.keys["cai"].sign_public.hex()}
    calls = _sealing_then(monkeypatch, lambda: group.decide("remove_member", removal, ["ana", "ben"]))
    write()
    assert calls[0] >= 2  # sealed again (the removal may also re-seal open records it can open)
    record_id, envelope, kind, parent = stored()
    with pytest.raises(crypto.DecryptionError):
        crypto.open_envelope(envelope, record_id, kind, group.keys["cai"].box_secret, parent)
    assert crypto.open_envelope(envelope, record_id, kind, group.keys["ana"].box_secret, parent)
