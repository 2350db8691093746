"""Attacks a reviewer found on the decision log, each now refused."""

from __future__ import annotations

import copy
import secrets
from pathlib import Path

import pytest
from helpers.group import Group, details, opens
from helpers.instance import PASSPHRASE, add_coordinator, make_instance

import crypto
from aidnet import dates
from aidnet.config import ConfigError
from aidnet.decisions import membership, notes, proposals
from aidnet.decisions.proposals import DecisionRefused
from aidnet.records import conversation, offers, requests, retention
from aidnet.records.reseal import reseal_all
from aidnet.sealing import readers
from aidnet.store import accounts as account_rows
from aidnet.store import counters, open_store
from aidnet.store import decision_log as log_rows
from aidnet.store import offers as offer_rows
from aidnet.store import requests as request_rows
from aidnet.store import sealed as sealed_rows
from aidnet.web.app import create_app
from crypto.cards import make_card
from crypto.log import LogError, LogState, apply, member_entry, new_record, sign_proposal, verify


def _rechain(records: list[dict[str, object]]) -> list[dict[str, object]]:
    """What an operator with the database key can do: renumber and re-link, without any private key."""
    out: list[dict[str, object]] = []
    head = ""
    for seq, record in enumerate(copy.deepcopy(records)):
        record["seq"], record["prev"] = seq, head
        head = crypto.log.digest(record)
        out.append(record)
    return out


def test_dropping_a_record_and_rechaining_is_caught(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana", "ben", "cai"], quorum=2)
    g.decide("remove_member", {"sign": g.keys["cai"].sign_public.hex()}, ["ana", "ben"])
    requests.submit_request(g.store, g.settings, details(), "nonce-drop-xxxxxxxxxxx")
    request_id = request_rows.page(g.store, 0, 1)[0].id.hex()
    g.decide("allocation", {"request": request_id, "source": {"kind": "stock", "ref": None}, "note": None},
             ["ana", "ben"])
    records = g.records()
    forged = _rechain([records[0], records[2]])  # the removal of cai silently dropped
    with pytest.raises(LogError, match="does not match"):
        verify(forged)
    g.close()


def test_a_whole_new_genesis_is_refused_by_the_app(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana"], quorum=1)
    operator = crypto.generate_keypair()
    with g.store.write() as tx:
        tx.execute("DELETE FROM log")
    readers.forget()
    with pytest.raises(ConfigError, match="emptied"):
        create_app(g.settings)
    g.settings.pin_file.unlink()  # the pin made at genesis is what caught it
    proposals.make_genesis(g.store, [("ana", operator)], 1)
    (g.settings.instance / "genesis.pin").write_text("00" * 32)
    with pytest.raises(ConfigError, match="genesis"):
        create_app(g.settings)
    g.close()


def test_signatures_from_another_group_do_not_count(tmp_path: Path) -> None:
    a = Group(tmp_path / "a", ["ana", "ben"], quorum=2)
    b_records, keys = [], a.keys
    b_genesis = {"id": "ab" * 16, "type": "genesis", "day": 1,
                 "body": {"members": [{"handle": h, "box": k.box_public.hex(), "sign": k.sign_public.hex(),
                                       "until": None} for h, k in keys.items()], "quorum": 2}}
    b_records.append(new_record(LogState(), b_genesis, [sign_proposal(b_genesis, k.sign_seed) for k in keys.values()], 1))
    mallory = crypto.generate_keypair()
    pid = a.decide("add_member", {"member": a.card("mallory", mallory)}, ["ana", "ben"])
    signed_in_a = next(r for r in a.records() if r["proposal"]["id"] == pid)
    b_state = verify(b_records)
    replay = new_record(b_state, signed_in_a["proposal"], signed_in_a["signatures"], 2)
    with pytest.raises(LogError, match="does not match"):
        apply(b_state, replay)
    a.close()


def test_reseal_covers_answers_and_keeps_the_requester(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana", "ben", "cai"], quorum=2)
    codename = requests.submit_request(g.store, g.settings, details(), "nonce-ans-xxxxxxxxxxxx")
    conversation.answer(g.store, g.settings, codename, "I live at 4 Oak Rd", secrets.token_hex(16))
    g.decide("remove_member", {"sign": g.keys["cai"].sign_public.hex()}, ["ana", "ben"])
    assert reseal_all(g.store, g.keys["ana"]) == (2, 0)  # the request and the answer
    _rowid, aid, envelope, parent, _column = sealed_rows.sealed_records(g.store, "answers")[0]
    with pytest.raises(crypto.DecryptionError):
        crypto.open_envelope(envelope, aid, conversation.KIND_ANSWER, g.keys["cai"].box_secret, parent)
    reply_secret = crypto.derive_codename(codename, g.settings.codename_salt).reply_secret
    assert crypto.open_envelope(envelope, aid, conversation.KIND_ANSWER, reply_secret, parent) == b"I live at 4 Oak Rd"
    g.close()


def test_members_whose_term_ended_cannot_renew_themselves(tmp_path: Path) -> None:
    """A renewal needs a quorum of active members: lapsed ones together are not the group any more."""
    g = Group(tmp_path, ["ana", "ben"], quorum=2, until=dates.today() - 1)
    assert readers.recipients(g.store) == []
    with pytest.raises(DecisionRefused):
        g.decide("renew_member", {"sign": g.keys["ana"].sign_public.hex(), "until": dates.today() + 30}, ["ana", "ben"])
    # Signed anyway, outside the server: the verifier refuses it too.
    state = readers.current(g.store)
    proposal = {"id": secrets.token_hex(16), "type": "renew_member", "day": dates.today(), "by": g.keys["ana"].sign_public.hex(),
                "body": {"sign": g.keys["ana"].sign_public.hex(), "until": dates.today() + 30}}
    signatures = [sign_proposal(proposal, k.sign_seed, state, today=dates.today()) for k in g.keys.values()]
    with pytest.raises(LogError, match="required signatures from active members"):
        apply(state, new_record(state, proposal, signatures, dates.today(), sealer=g.keys["ana"]))
    g.close()


def test_active_members_renew_a_lapsed_one(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana", "ben"], quorum=1)
    eve = crypto.generate_keypair()
    g.keys["eve"] = eve
    g.decide("add_member", {"member": g.card("eve", eve, until=dates.today() - 1)}, ["ana"])
    assert not opens(g.store, eve, g.settings)
    g.decide("renew_member", {"sign": eve.sign_public.hex(), "until": dates.today() + 30}, ["ben"])
    assert opens(g.store, eve, g.settings)
    g.close()


def test_an_offer_cannot_be_given_twice(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana", "ben"], quorum=2)
    offers.submit_offer(g.store, g.settings, offers.OfferDetails("goods", "food", "north", "rice", ""),
                        secrets.token_hex(16))
    offer_id = offer_rows.open_offers(g.store)[0].id.hex()
    ids = []
    for i in range(2):
        requests.submit_request(g.store, g.settings, details(), f"nonce-twice-{i}-xxxxxxxx")
        request_id = request_rows.page(g.store, 0, 1)[0].id.hex()
        proposal = proposals.new_proposal("allocation",
                                           {"request": request_id, "source": {"kind": "offer", "ref": offer_id}},
                                           g.keys["ana"])
        proposals.propose(g.store, g.settings, g.keys["ana"], proposal)
        ids.append(proposal["id"])
    assert proposals.sign(g.store, g.settings, ids[0], g.keys["ben"])
    with pytest.raises(DecisionRefused, match="no longer open"):
        proposals.sign(g.store, g.settings, ids[1], g.keys["ben"])
    assert log_rows.proposal(g.store, ids[1]).state == "refused"
    g.close()


def test_clear_text_extra_fields_and_case_tricks_are_refused(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana", "ben"], quorum=2)
    state = readers.current(g.store)
    for body in ({"request": "Maria Lopez, 4 Oak Rd", "source": {"kind": "stock", "ref": None}},
                 {"request": "ab" * 16, "source": {"kind": "stock", "ref": None}, "note": "in clear"},
                 {"request": "ab" * 16, "source": {"kind": "stock", "ref": None}, "who": "Maria"}):
        proposal = {"id": secrets.token_hex(16), "type": "allocation", "body": body, "day": 1}
        record = new_record(state, proposal, [sign_proposal(proposal, k.sign_seed, state) for k in g.keys.values()], 1)
        with pytest.raises(LogError):
            apply(state, record)
    upper = {"handle": "ana2", "box": crypto.generate_keypair().box_public.hex(),
             "sign": g.keys["ana"].sign_public.hex().upper(), "until": None}
    proposal = {"id": secrets.token_hex(16), "type": "add_member", "body": {"member": upper}, "day": 1}
    record = new_record(state, proposal, [sign_proposal(proposal, k.sign_seed, state) for k in g.keys.values()], 1)
    with pytest.raises(LogError, match="malformed"):
        apply(state, record)
    proposal = {"id": secrets.token_hex(16), "type": "set_quorum", "body": {"quorum": 1}, "day": 1}
    signatures = [dict(sign_proposal(proposal, k.sign_seed, state), who="Maria") for k in g.keys.values()]
    with pytest.raises(LogError, match="malformed signature"):
        apply(state, new_record(state, proposal, signatures, 1))
    g.close()


NEW_PASSPHRASE = "a new passphrase for new keys"


def test_one_rotation_at_a_time(tmp_path: Path) -> None:
    settings = make_instance(tmp_path / "inst")
    add_coordinator(settings, "alice", PASSPHRASE)
    store = open_store(settings)
    alice = crypto.unwrap_with_passphrase(account_rows.by_handle(store, "alice").wrapped_keys, PASSPHRASE)
    bob = crypto.generate_keypair()
    proposals.propose(store, settings, alice, proposals.new_proposal(
        "add_member", {"member": member_entry(make_card("bob", bob), None)}, alice))
    proposals.propose(store, settings, alice, proposals.new_proposal("set_quorum", {"quorum": 2}, alice))
    assert not membership.propose_rotation(store, settings, "alice", PASSPHRASE, NEW_PASSPHRASE)  # waits for bob
    with pytest.raises(DecisionRefused, match="already waiting"):
        membership.propose_rotation(store, settings, "alice", PASSPHRASE, NEW_PASSPHRASE)
    store.close()


def test_one_request_moves_each_count_by_at_most_one(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana"], quorum=1)
    requests.submit_request(g.store, g.settings, details(), "nonce-once-xxxxxxxxxxx")
    request_id = request_rows.page(g.store, 0, 1)[0].id.hex()
    for _ in range(5):
        requests.change_status(g.store, g.settings, g.keys["ana"], request_id, "fulfilled")
        requests.change_status(g.store, g.settings, g.keys["ana"], request_id, "in_progress")
    for _ in range(3):
        g.decide("allocation", {"request": request_id, "source": {"kind": "stock", "ref": None}}, ["ana"])
    counts = {row[3]: row[4] for row in counters.all_counters(g.store)}
    assert counts == {"received": 1, "fulfilled": 1, "in_progress": 1, "allocated": 1}
    g.close()


def test_purge_erases_expired_stock_and_the_notes_of_erased_requests(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana"], quorum=1)
    offers.record_stock(g.store, g.settings, "goods", "food", 3, "STOCKMARK from Jose")
    requests.submit_request(g.store, g.settings, details(), "nonce-purge-xxxxxxxxxx")
    request_id = request_rows.page(g.store, 0, 1)[0].id.hex()
    proposal = proposals.new_proposal("allocation", {"request": request_id, "source": {"kind": "stock", "ref": None}},
                                      g.keys["ana"])
    proposal["body"]["note"] = notes.seal_note(g.store, proposal["id"], "NOTEMARK Maria at 5 Elm St", request_id)
    proposals.propose(g.store, g.settings, g.keys["ana"], proposal)
    far = dates.today() + 10_000
    retention.purge(g.store, g.settings, today=far)
    assert g.store.conn.execute("SELECT count(*) FROM stock").fetchone()[0] == 0
    assert g.store.conn.execute("SELECT count(*) FROM notes").fetchone()[0] == 0
    assert notes.open_note(g.store, proposal["id"], proposal["body"]["note"], g.keys["ana"]) is None
    verify(g.records())  # the log still verifies: it kept only the note's hash
    g.close()
