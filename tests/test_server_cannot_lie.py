"""The server cannot lie: each attack a review performed with the instance folder in hand, performed again.

The adversary holds the whole instance folder (db.key included) and writes the database at will, but
knows no keyholder's passphrase; or holds a coordinator account that is not, or no longer, a member.
Each test does what they would do and checks that it gains nothing, or is caught.
"""

from __future__ import annotations

import io
import json
import secrets
import struct
from pathlib import Path
from typing import Any

import nacl.bindings as sodium
import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers.cli import run_aidnet
from helpers.group import Group, details
from helpers.instance import PASSPHRASE, account_keys, add_coordinator, make_instance, send_reply
from helpers.pages import Auth, hidden, reply_data, request_form

import crypto
from aidnet.config import ConfigError, Settings, load_settings
from aidnet.decisions import keyholder, membership, notes, offline, proposals
from aidnet.decisions.proposals import DecisionRefused
from aidnet.records import conversation, coordinators, offers, requests, retention
from aidnet.records.reseal import reseal_all
from aidnet.sealing import readers
from aidnet.store import Store, open_store
from aidnet.store import accounts as account_rows
from aidnet.store import decision_log as log_rows
from aidnet.store import requests as request_rows
from aidnet.store import sealed as sealed_rows
from aidnet.web.app import create_app
from crypto.cards import make_card
from crypto.log import LogError, member_entry, sign_proposal

OTHER = "bob's long passphrase"


def _token(client: FlaskClient, path: str = "/coordinator/decisions/") -> str:
    return hidden(client.get(path).get_data(as_text=True), "csrf_token")


def _member_account(settings: Settings, store: Store, handle: str, passphrase: str) -> crypto.KeyPair:
    """An account made on this server and made a member by alice (quorum 1): its keys."""
    coordinators.add_coordinator(store, settings, handle, passphrase)
    row = account_rows.by_handle(store, handle)
    assert row is not None
    alice = account_keys(store)
    proposals.propose(store, settings, alice, proposals.new_proposal(
        "add_member", {"member": membership.member_from_account(row)}, alice))
    return account_keys(store, handle, passphrase)


def _request(store: Store, settings: Settings, need: str = "tins of beans") -> tuple[str, str]:
    """A request as the form makes it: (codename, request id hex)."""
    codename = requests.submit_request(store, settings, details(need), secrets.token_hex(16))
    return codename, request_rows.page(store, 0, 1)[0].id.hex()


# --- 1. member cards ---------------------------------------------------------------------------------------


def test_a_box_key_swapped_in_an_account_cannot_be_proposed(app: Flask, settings: Settings, store: Store) -> None:
    coordinators.add_coordinator(store, settings, "olu", OTHER)
    attacker = crypto.generate_keypair()
    with store.write() as tx:  # the database writer puts their own reading key on olu's account
        tx.execute("UPDATE coordinators SET box_public = ? WHERE handle = 'olu'", (attacker.box_public,))
    row = account_rows.by_handle(store, "olu")
    assert row is not None
    with pytest.raises(DecisionRefused, match="keys were changed"):
        membership.member_from_account(row)
    alice = app.test_client()
    Auth(alice).login()
    refused = alice.post("/coordinator/decisions/member", data={"csrf_token": _token(alice), "account": str(row.id),
                                                                "card": "", "until": ""})
    assert refused.status_code == 400
    assert log_rows.proposals(store) == [] and attacker.box_public.hex() not in json.dumps(log_rows.records(store))


def test_a_box_key_swapped_in_a_pending_proposal_cannot_be_signed(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana", "ben"], quorum=2)
    olu, attacker = crypto.generate_keypair(), crypto.generate_keypair()
    proposal, final = g.propose("add_member", {"member": g.card("olu", olu)}, "ana")
    assert not final
    stored = log_rows.proposal(g.store, proposal["id"])
    assert stored is not None
    tampered = json.loads(json.dumps(stored.proposal))
    tampered["body"]["member"]["box"] = attacker.box_public.hex()
    reissued = json.loads(json.dumps(stored.proposal))  # or a whole new card of the attacker's, self-signed
    reissued["body"]["member"] = g.card("olu", attacker)
    for forged in (tampered, reissued):
        with g.store.write() as tx:
            tx.execute("UPDATE proposals SET proposal = ? WHERE id = ?", (crypto.log.canonical(forged), proposal["id"]))
        with pytest.raises(DecisionRefused, match="cannot be signed"):
            g.sign(proposal["id"], "ben")
        bundle = offline.export_bundle(g.store)
        with pytest.raises(keyholder.KeyholderError, match="not signing"):
            keyholder.sign_pending(bundle, crypto.log.verify(bundle["log"]), g.keys["ben"], [proposal["id"]])
    assert attacker.box_public not in readers.recipients(g.store)
    g.close()


def test_the_fingerprint_reads_the_same_in_the_cli_the_keyholder_tool_and_the_page(tmp_path: Path) -> None:
    instance = tmp_path / "inst"
    settings = make_instance(instance)
    add_coordinator(settings)
    added = run_aidnet("coordinator", "add", "olu", "--passphrase-file", "-", "--instance", str(instance),
                       stdin=OTHER + "\n")
    assert added.returncode == 0, added.stderr
    printed = added.stdout.strip().splitlines()[-1].rsplit(": ", 1)[1]
    with open_store(settings) as store:
        row = account_rows.by_handle(store, "olu")
        assert row is not None
        assert printed == crypto.cards.fingerprint("olu", row.box_public.hex(), row.sign_public.hex())
        assert len(printed.replace(" ", "")) == 32  # 128 bits
        proposals.propose(store, settings, account_keys(store), proposals.new_proposal(
            "add_member", {"member": membership.member_from_account(row)}, account_keys(store)))
        bundle = offline.export_bundle(store)
        state = crypto.log.verify(bundle["log"])
        assert keyholder.fingerprint(state.members[row.sign_public.hex()]) == printed
    made = run_aidnet("keyholder", "keygen", "--handle", "ada", "--out", str(tmp_path / "ada.key"),
                      "--passphrase-file", "-", stdin="ada's key file passphrase\n")
    card = crypto.cards.parse_card(made.stdout.strip().splitlines()[-1])
    assert f"card fingerprint (read it out to the keyholders: they compare it before anyone signs): {card.fingerprint}" \
        in made.stdout
    olu = app_client(settings, "olu", OTHER)
    page = olu.get("/coordinator/decisions/").get_data(as_text=True)
    assert page.count(printed) >= 2  # in the members list and as "your card"


def app_client(settings: Settings, handle: str = "alice", passphrase: str = PASSPHRASE) -> FlaskClient:
    app = create_app(settings)
    app.config["TESTING"] = True
    client = app.test_client()
    assert Auth(client).login(handle, passphrase).status_code == 303
    return client


def test_a_rotation_the_old_key_did_not_sign_is_refused(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana", "ben", "cai"], quorum=2)
    attacker = crypto.generate_keypair()
    card = make_card("ana", attacker)
    forged_word = crypto.cards.rotation_signature(attacker, card)  # the attacker's key vouches for itself
    body = {"old_sign": g.keys["ana"].sign_public.hex(), "member": member_entry(card, None), "old_sig": forged_word}
    with pytest.raises(DecisionRefused, match="old key did not sign"):
        g.propose("rotate_key", body, "ben")
    state = readers.current(g.store)
    proposal = {"id": secrets.token_hex(16), "type": "rotate_key", "body": body, "day": state.day,
                "by": g.keys["ben"].sign_public.hex()}
    signed = [sign_proposal(proposal, g.keys[n].sign_seed, state, today=state.day) for n in ("ben", "cai")]
    with pytest.raises(LogError, match="old key did not sign"):  # even a quorum fooled into signing
        crypto.log.apply(state, crypto.log.new_record(state, proposal, signed, state.day, sealer=g.keys["ben"]))
    g.close()


# --- 2. every proposal shown in full and attributed -------------------------------------------------------------


def test_a_proposal_row_written_by_the_server_shows_as_tampered_and_cannot_be_signed(
        app: Flask, settings: Settings, store: Store) -> None:
    bob = _member_account(settings, store, "bob", OTHER)
    alice_keys = account_keys(store)
    proposals.propose(store, settings, alice_keys, proposals.new_proposal("set_quorum", {"quorum": 2}, alice_keys))
    attacker = crypto.generate_keypair()
    inserted = proposals.new_proposal("add_member", {"member": member_entry(make_card("eve", attacker), None)}, bob)
    with store.write() as tx:  # a row in bob's name, without bob's signature
        log_rows.insert_proposal(tx, inserted, [])
    alice = app.test_client()
    Auth(alice).login()
    page = alice.get("/coordinator/decisions/").get_data(as_text=True)
    assert "Tampered with, it cannot be signed:" in page and "eve, card" in page and "Proposed by bob, card" in page
    signed = alice.post("/coordinator/decisions/sign", data={"csrf_token": _token(alice), "proposal": inserted["id"]})
    assert signed.status_code == 409
    stored = log_rows.proposal(store, inserted["id"])
    assert stored is not None and stored.signatures == [] and stored.state == "pending"
    assert bob.sign_public.hex() in readers.current(store).members
    assert attacker.box_public not in readers.recipients(store)


def test_every_kind_of_proposal_says_what_changes_and_who_proposed_it(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana", "ben"], quorum=2)
    state = readers.current(g.store)
    new = crypto.generate_keypair()
    card = make_card("ana", new)
    ben = f"ben ({keyholder.fingerprint(state.members[g.keys['ben'].sign_public.hex()])})"
    ana = f"ana ({keyholder.fingerprint(state.members[g.keys['ana'].sign_public.hex()])})"
    for kind, body, words in (
            ("rotate_key", {"old_sign": g.keys["ana"].sign_public.hex(), "member": member_entry(card, None),
                            "old_sig": crypto.cards.rotation_signature(g.keys["ana"], card)},
             f"{ana} changes keys to ana with card {card.fingerprint}"),
            ("remove_member", {"sign": g.keys["ana"].sign_public.hex()}, f"remove {ana}"),
            ("set_quorum", {"quorum": 1}, "the quorum becomes 1 of 2"),
            ("renew_member", {"sign": g.keys["ana"].sign_public.hex(), "until": 30000}, f"renew {ana} until 2052"),
            ("impact_update", {"texts": {"en": "We fed 40 families.", "es": "Dimos de comer a 40 familias."}},
             "publish on the transparency page: [en] We fed 40 families.; [es] Dimos de comer a 40 familias.")):
        proposal = proposals.new_proposal(kind, body, g.keys["ben"])
        described = keyholder.describe(proposal, state)
        assert words in described and described.endswith(f"proposed by {ben}"), described
    g.close()


# --- 3. the log cannot lose, reorder or resurrect -----------------------------------------------------------------


def _offline_signatures(g: Group, name: str, pids: list[str]) -> list[dict[str, Any]]:
    """What `aidnet keyholder sign` brings back for these pending decisions, all from one bundle."""
    bundle = offline.export_bundle(g.store)
    return keyholder.sign_pending(bundle, crypto.log.verify(bundle["log"]), g.keys[name], pids)


def test_a_removal_signed_offline_beside_another_decision_cannot_be_dropped(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana", "ben", "cai"], quorum=2)
    _codename, request_id = _request(g.store, g.settings)
    removal, _ = g.propose("remove_member", {"sign": g.keys["cai"].sign_public.hex()}, "ana")
    allocation, _ = g.propose("allocation", {"request": request_id, "source": {"kind": "stock", "ref": None},
                                             "note": None}, "ana")
    signatures = _offline_signatures(g, "ben", [removal["id"], allocation["id"]])
    assert ["seal" in s for s in signatures] == [True, False]  # one seal for one place, never two
    assert offline.import_signatures(g.store, g.settings, signatures) == (2, 0, 1)
    assert proposals.finalize_ready(g.store, g.settings, g.keys["ana"]) == ["allocation"]  # ana, signed in, seals it
    records = g.records()
    assert [r["proposal"]["type"] for r in records] == ["genesis", "remove_member", "allocation"]
    # The database writer drops the removal and re-chains the allocation after the genesis.
    dropped = {**records[2], "seq": 1, "prev": crypto.log.digest(records[0])}
    with pytest.raises(LogError, match="seal"):
        crypto.log.verify([records[0], dropped], crypto.log.digest(records[0]))
    with g.store.write() as tx:
        tx.execute("DELETE FROM log WHERE seq >= 1")
        crypto_row = crypto.log.canonical(dropped)
        tx.execute("INSERT INTO log (seq, record) VALUES (1, ?)", (crypto_row,))
    readers.forget()
    with pytest.raises(ConfigError):
        create_app(g.settings)
    g.close()


def test_a_log_cut_short_is_refused_by_the_server_the_cli_and_the_keyholder_tool(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana"], quorum=1)
    g.decide("set_quorum", {"quorum": 1}, ["ana"])
    records = g.records()
    genesis, head = crypto.log.digest(records[0]), crypto.log.digest(records[1])
    full, cut = tmp_path / "full.json", tmp_path / "cut.json"
    full.write_text(json.dumps(records))
    cut.write_text(json.dumps(records[:1]))
    assert run_aidnet("log", "verify", str(full), "--genesis", genesis, "--head", head).returncode == 0
    refused = run_aidnet("log", "verify", str(cut), "--genesis", genesis, "--head", head)
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "does not extend" in refused.stderr
    # The keyholder tool remembers the head of the bundle it read, and refuses one cut behind it.
    key_path = tmp_path / "ana.key"
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(offline.export_bundle(g.store)))
    keyholder.load_bundle(bundle, keys_path=key_path)
    with g.store.write() as tx:
        tx.execute("DELETE FROM log WHERE seq = 1")
    bundle.write_text(json.dumps(offline.export_bundle(g.store)))
    with pytest.raises(keyholder.KeyholderError, match="does not extend the one you saw last"):
        keyholder.load_bundle(bundle, keys_path=key_path)
    # And the server, which pinned the head when the decision was made.
    readers.forget()
    with pytest.raises(ConfigError, match="does not extend"):
        create_app(g.settings)
    g.close()


def test_an_earlier_record_changed_after_it_was_verified_stops_the_next_decision(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana", "ben"], quorum=1)
    g.decide("set_quorum", {"quorum": 1}, ["ana"])
    g.decide("set_quorum", {"quorum": 1}, ["ben"])  # full_verify now knows these records, byte for byte
    first = g.records()[1]
    first["signatures"][0]["until"] += 1  # one number changed: its signature no longer holds
    with g.store.write() as tx:
        tx.execute("UPDATE log SET record = ? WHERE seq = 1", (crypto.log.canonical(first),))
    # Caught by the finalizing write's full check ("record 1"), or first by a read's spot check.
    with pytest.raises(LogError, match="record 1|already verified has changed"):
        g.decide("set_quorum", {"quorum": 2}, ["ana"])
    g.close()


def test_a_removal_made_final_offline_reseals_when_a_keyholder_next_signs_in(
        app: Flask, settings: Settings, store: Store, tmp_path: Path) -> None:
    bob = _member_account(settings, store, "bob", OTHER)
    cai = _member_account(settings, store, "cai", "cai's long passphrase")
    alice_keys = account_keys(store)
    proposals.propose(store, settings, alice_keys, proposals.new_proposal("set_quorum", {"quorum": 2}, alice_keys))
    _request(store, settings, "open before the removal")
    removal = proposals.new_proposal("remove_member", {"sign": cai.sign_public.hex()}, alice_keys)
    assert not proposals.propose(store, settings, alice_keys, removal)
    bundle = offline.export_bundle(store)
    signed = keyholder.sign_pending(bundle, crypto.log.verify(bundle["log"]), bob, [removal["id"]])
    assert offline.import_signatures(store, settings, signed) == (1, 0, 1)  # final from bob's offline seal
    assert proposals.reseal_due(store) == [removal["id"]]
    still = request_rows.page(store, 0, 1)[0]
    assert crypto.open_envelope(still.envelope, still.id, requests.KIND_REQUEST, cai.box_secret)  # not yet re-sealed
    alice = app.test_client()
    Auth(alice).login()
    first = alice.get("/coordinator/decisions/")
    assert first.status_code == 303 and "/coordinator/decisions/reseal" in first.headers["Location"]
    while first.status_code in (200, 303) and "reseal" in first.headers.get("Location", ""):
        first = alice.get(first.headers["Location"])
    assert proposals.reseal_due(store) == []
    for table in sealed_rows.SEALED_TABLES:
        for _rowid, record_id, envelope, parent, _column in sealed_rows.sealed_records(store, table):
            with pytest.raises(crypto.DecryptionError):
                crypto.open_envelope(envelope, record_id, sealed_rows.SEALED_TABLES[table].kind, cai.box_secret,
                                     parent)


def test_the_page_says_a_reseal_is_pending_for_a_keyholder_without_keys_at_hand(
        app: Flask, settings: Settings, store: Store) -> None:
    coordinators.add_coordinator(store, settings, "newbie", OTHER)  # an account, not a member
    with store.write() as tx:
        log_rows.mark_reseal_due(tx, "ab" * 16)
    newbie = app.test_client()
    Auth(newbie).login("newbie", OTHER)
    page = newbie.get("/coordinator/decisions/")
    assert page.status_code == 200
    assert "open records are still sealed to the members before it" in page.get_data(as_text=True)


# --- 4. strict JSON everywhere a signed file is read ------------------------------------------------------------

DEEP = "[" * 25_000 + "]" * 25_000  # under the 64 KiB body limit, far past any parser's stack
TWICE = '[{"proposal": "ab", "proposal": "cd", "signature": {}}]'


@pytest.mark.parametrize("text", [DEEP, TWICE, '[{"proposal": "ab", "signature": {"until": 1.5}}]'])
def test_a_hostile_file_is_one_line_in_every_command(tmp_path: Path, text: str) -> None:
    settings = make_instance(tmp_path / "instance")
    add_coordinator(settings)
    hostile = tmp_path / "hostile.json"
    hostile.write_text(text)
    key_path = tmp_path / "k.key"
    made = run_aidnet("keyholder", "keygen", "--handle", "ada", "--out", str(key_path), "--passphrase-file", "-",
                      stdin="ada's key file passphrase\n")
    assert made.returncode == 0
    for argv in (["log", "verify", str(hostile), "--genesis", "00" * 32],
                 ["log", "import", str(hostile), "--instance", str(settings.instance)],
                 ["keyholder", "read", str(hostile), "--keys", str(key_path), "--passphrase-file", "-"]):
        done = run_aidnet(*argv, stdin="ada's key file passphrase\n")
        assert done.returncode == 1, (argv, done.stdout, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr, (argv, done.stderr)


@pytest.mark.parametrize("text", [DEEP, TWICE])
def test_a_hostile_signatures_upload_is_a_400_page(client: FlaskClient, text: str) -> None:
    Auth(client).login()
    response = client.post("/coordinator/decisions/signatures", content_type="multipart/form-data",
                           data={"csrf_token": _token(client), "file": (io.BytesIO(text.encode()), "x.json")})
    assert response.status_code == 400
    assert "This is not a signatures file from aidnet keyholder sign." in response.get_data(as_text=True)


# --- 5. replies are proven and shared ------------------------------------------------------------------------------


def test_a_reply_key_swapped_in_the_database_does_not_redirect_a_reply(settings: Settings, store: Store) -> None:
    codename, request_id = _request(store, settings)
    row = request_rows.by_id(store, bytes.fromhex(request_id))
    assert row is not None and row.reply_public == b""  # new requests keep the reply key inside the seal
    attacker = crypto.generate_keypair()
    with store.write() as tx:
        tx.execute("UPDATE requests SET reply_public = ? WHERE id = ?", (attacker.box_public, row.id))
    assert send_reply(store, settings, request_id, "Pick-up at 12 Elm St")
    (reply,) = request_rows.replies_for(store, row.id)
    with pytest.raises(crypto.DecryptionError):
        crypto.open_envelope(reply.envelope, reply.id, "reply", attacker.box_secret, row.id)
    seen = conversation.for_requester(store, settings, codename)
    assert seen is not None and [m.text for m in seen.messages] == ["Pick-up at 12 Elm St"]


def _old_style_request(store: Store, settings: Settings, need: str) -> tuple[str, bytes]:
    """A request as the version before this one stored it: its reply key in the clear column only."""
    codename = crypto.generate_codename()
    keys = crypto.derive_codename(codename, settings.codename_salt)
    request_id = secrets.token_bytes(16)
    sealed = crypto.seal(details(need).to_bytes(), request_id, requests.KIND_REQUEST, readers.recipients(store))
    with store.write() as tx:
        request_rows.insert_request(tx, id=request_id, envelope=sealed, expires_day=30000,
                                    lookup_hash=keys.lookup_hash, reply_public=keys.reply_public)
    return codename, request_id


def test_a_request_made_before_takes_its_reply_key_in_at_the_reseal(settings: Settings, store: Store) -> None:
    codename, request_id = _old_style_request(store, settings, "older request")
    assert send_reply(store, settings, request_id.hex(), "first reply")  # sealed to the column's key
    assert reseal_all(store, account_keys(store))[1] == 0
    row = request_rows.by_id(store, request_id)
    assert row is not None and row.reply_public == b""  # the column is emptied once the key is inside
    assert crypto.envelope.version_of(row.envelope) == 2
    with store.write() as tx:
        tx.execute("UPDATE requests SET reply_public = ? WHERE id = ?", (crypto.generate_keypair().box_public, row.id))
    assert send_reply(store, settings, request_id.hex(), "second reply")
    seen = conversation.for_requester(store, settings, codename)
    assert seen is not None and [m.text for m in seen.messages] == ["first reply", "second reply"]


def test_only_a_current_member_who_reads_the_request_can_reply(app: Flask, settings: Settings, store: Store) -> None:
    codename, request_id = _request(store, settings)
    coordinators.add_coordinator(store, settings, "mallory", OTHER)  # added by the operator: not a member
    with pytest.raises(conversation.NotAReader):
        send_reply(store, settings, request_id, "Come to the back door", "mallory", OTHER)
    mallory = app.test_client()
    Auth(mallory).login("mallory", OTHER)
    page = mallory.get(f"/coordinator/request/{request_id}").get_data(as_text=True)
    response = mallory.post(f"/coordinator/request/{request_id}/reply",
                            data={"csrf_token": hidden(page, "csrf_token"), "form_nonce": secrets.token_urlsafe(16),
                                  "text": "Come to the back door"})
    assert response.status_code == 403
    assert request_rows.replies_for(store, bytes.fromhex(request_id)) == []
    # The database writer seals a signed reply of mallory's straight into the table: the requester never sees it.
    row = request_rows.by_id(store, bytes.fromhex(request_id))
    assert row is not None
    keys = crypto.derive_codename(codename, settings.codename_salt)
    forged_id = secrets.token_bytes(16)
    payload = crypto.replies.signed_payload(account_keys(store, "mallory", OTHER), "alice", row.id, forged_id,
                                            "Come to the back door", 1)
    with store.write() as tx:
        request_rows.insert_reply(tx, id=forged_id, request_id=row.id, envelope=crypto.seal(
            payload, forged_id, "reply", [*readers.recipients(store), keys.reply_public], row.id))
    seen = conversation.for_requester(store, settings, codename)
    assert seen is not None and seen.messages == []
    thread = conversation.for_coordinator(store, account_keys(store), request_id)
    assert [(m.text, m.proven) for m in thread] == [("Come to the back door", False)]
    alice = app.test_client()
    Auth(alice).login()
    shown = alice.get(f"/coordinator/request/{request_id}").get_data(as_text=True)
    assert "Not signed by a current member: the requester does not see it." in shown


def test_a_removed_members_replies_stop_showing(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana", "ben"], quorum=1)
    codename, request_id = _request(g.store, g.settings)
    assert conversation.add_reply(g.store, g.keys["ben"], "ben", request_id, "ben's words", secrets.token_hex(8))
    seen = conversation.for_requester(g.store, g.settings, codename)
    assert seen is not None and [m.text for m in seen.messages] == ["ben's words"]
    g.decide("remove_member", {"sign": g.keys["ben"].sign_public.hex()}, ["ana"])
    with pytest.raises(conversation.NotAReader):
        conversation.add_reply(g.store, g.keys["ben"], "ben", request_id, "still here", secrets.token_hex(8))
    seen = conversation.for_requester(g.store, g.settings, codename)
    assert seen is not None and seen.messages == []
    g.close()


def test_colleagues_see_each_others_replies_and_a_reply_posted_twice_is_kept_once(
        app: Flask, settings: Settings, store: Store) -> None:
    _member_account(settings, store, "bob", OTHER)
    requester = app.test_client()
    requester.post("/", data=request_form(requester, need="a ride to the clinic"))
    request_id = request_rows.page(store, 0, 1)[0].id.hex()
    alice, bob = app.test_client(), app.test_client()
    Auth(alice).login()
    Auth(bob).login("bob", OTHER)
    page = alice.get(f"/coordinator/request/{request_id}").get_data(as_text=True)
    data = reply_data(page, "Thursday at 10, from the library")
    assert alice.post(f"/coordinator/request/{request_id}/reply", data=data).status_code == 303
    again = alice.post(f"/coordinator/request/{request_id}/reply", data=data)  # a double click
    assert again.status_code in (303, 409)
    assert len(request_rows.replies_for(store, bytes.fromhex(request_id))) == 1
    seen_by_bob = bob.get(f"/coordinator/request/{request_id}").get_data(as_text=True)
    assert "alice wrote on" in seen_by_bob and "Thursday at 10, from the library" in seen_by_bob
    assert "Not signed by a current member" not in seen_by_bob


# --- 6. envelopes bind their place ----------------------------------------------------------------------------------


def test_an_answer_moved_to_another_request_does_not_open_there(settings: Settings, store: Store) -> None:
    first, first_id = _request(store, settings, "request A")
    _second, second_id = _request(store, settings, "request B")
    assert conversation.answer(store, settings, first, "meet me at the station", secrets.token_hex(8))
    with store.write() as tx:
        tx.execute("UPDATE answers SET request_id = ?", (bytes.fromhex(second_id),))
    thread = conversation.for_coordinator(store, account_keys(store), second_id)
    assert [m.text for m in thread] == [None]  # there, but it does not open under B
    assert conversation.for_coordinator(store, account_keys(store), first_id) == []


def test_a_note_moved_to_another_decision_or_request_does_not_open(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana"], quorum=1)
    _c, request_a = _request(g.store, g.settings, "A")
    _c, request_b = _request(g.store, g.settings, "B")
    pid = secrets.token_hex(16)
    body = notes.seal_note(g.store, pid, "two bags from the shelf", request_a)
    found = log_rows.note_for(g.store, pid)
    assert found is not None
    assert notes.open_note(g.store, pid, body, g.keys["ana"]) == "two bags from the shelf"
    with g.store.write() as tx:
        tx.execute("UPDATE notes SET request_id = ?", (bytes.fromhex(request_b),))
    assert notes.open_note(g.store, pid, body, g.keys["ana"]) is None
    g.close()


def _sealed_v1(payload: bytes, record_id: bytes, kind: str, recipients: list[bytes]) -> bytes:
    """An envelope of the first format, made by hand as version 1 made it: bound to kind and id only."""
    key, nonce = secrets.token_bytes(32), secrets.token_bytes(24)
    ad = b"AE" + bytes([1]) + struct.pack(">H", len(kind)) + kind.encode() + struct.pack(">H", 16) + record_id
    header = b"AE" + bytes([1, len(recipients)]) + b"".join(sodium.crypto_box_seal(key, r) for r in recipients) + nonce
    return header + sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(crypto.envelope.pad(payload), ad, nonce, key)


def test_a_reseal_rewrites_old_envelopes_in_the_new_form(settings: Settings, store: Store) -> None:
    codename = crypto.generate_codename()
    keys = crypto.derive_codename(codename, settings.codename_salt)
    request_id, answer_id = secrets.token_bytes(16), secrets.token_bytes(16)
    readers_now = readers.recipients(store)
    with store.write() as tx:
        request_rows.insert_request(tx, id=request_id, envelope=_sealed_v1(
            details("sealed the old way").to_bytes(), request_id, requests.KIND_REQUEST, readers_now),
            expires_day=30000, lookup_hash=keys.lookup_hash, reply_public=keys.reply_public)
        request_rows.insert_answer(tx, id=answer_id, request_id=request_id, after_replies=0, envelope=_sealed_v1(
            b"an answer of before", answer_id, conversation.KIND_ANSWER, [*readers_now, keys.reply_public]))
    seen = conversation.for_requester(store, settings, codename)
    assert seen is not None and [m.text for m in seen.messages] == ["an answer of before"]  # version 1 opens
    assert reseal_all(store, account_keys(store)) == (2, 0)
    row = request_rows.by_id(store, request_id)
    assert row is not None and crypto.envelope.version_of(row.envelope) == 2 and row.reply_public == b""
    (_aid, answer_envelope, _after), = request_rows.answers_for(store, request_id)
    assert crypto.envelope.version_of(answer_envelope) == 2
    with pytest.raises(crypto.DecryptionError):  # now bound to its request: not openable as a loose answer
        crypto.open_envelope(answer_envelope, answer_id, conversation.KIND_ANSWER, keys.reply_secret)
    seen = conversation.for_requester(store, settings, codename)
    assert seen is not None and [m.text for m in seen.messages] == ["an answer of before"]
    opened = requests.open_request(store, account_keys(store), request_id.hex())
    assert opened is not None and opened.details is not None and opened.details.reply_key == keys.reply_public.hex()


# --- 7. the re-seal covers every table that holds an envelope -------------------------------------------------------


def test_the_reseal_covers_every_table_with_an_envelope(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana", "ben", "cai"], quorum=1)
    codename, request_id = _request(g.store, g.settings, "every table")
    conversation.answer(g.store, g.settings, codename, "an answer", secrets.token_hex(8))
    conversation.add_reply(g.store, g.keys["ana"], "ana", request_id, "a reply", secrets.token_hex(8))
    offers.submit_offer(g.store, g.settings, offers.OfferDetails("goods", "food", "north", "rice", ""),
                        secrets.token_hex(16))
    offers.record_stock(g.store, g.settings, "goods", "food", 3, "flour from the bakery")
    assert retention.extend(g.store, g.settings, request_id, g.settings.policy.max_extension_days,
                            "still waiting for a flat")
    g.decide("allocation", {"request": request_id, "source": {"kind": "stock", "ref": None},
                            "note": notes.seal_note(g.store, "ee" * 16, "a note", request_id)}, ["ana"])
    schema_tables = sealed_rows.envelope_tables(g.store)
    assert schema_tables == set(sealed_rows.SEALED_TABLES), "a table holds envelopes the re-seal does not cover"
    cai = g.keys["cai"]
    assert all(sealed_rows.sealed_count(g.store, t) for t in schema_tables), "each table must hold a record here"
    g.decide("remove_member", {"sign": cai.sign_public.hex()}, ["ana"])
    _done, skipped = reseal_all(g.store, g.keys["ana"])
    assert skipped == 0
    for table in schema_tables:
        spec = sealed_rows.SEALED_TABLES[table]
        for _rowid, record_id, envelope, parent, _column in sealed_rows.sealed_records(g.store, table):
            with pytest.raises(crypto.DecryptionError):
                crypto.open_envelope(envelope, record_id, spec.kind, cai.box_secret, parent)
            assert crypto.envelope.version_of(envelope) == 2
            assert crypto.open_envelope(envelope, record_id, spec.kind, g.keys["ben"].box_secret, parent)
    g.close()


# --- 8. passphrases and costs -----------------------------------------------------------------------------------------


def test_argon2_below_rfc_9106_is_refused_at_start(tmp_path: Path) -> None:
    settings = make_instance(tmp_path / "instance")
    config = settings.instance / "config.toml"
    config.write_text(config.read_text().replace("test_only = true\n", ""))
    with pytest.raises(ConfigError, match="RFC 9106"):
        load_settings(settings.instance)
    done = run_aidnet("log", "verify", "--instance", str(settings.instance))
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1 and "RFC 9106" in done.stderr


def test_a_passphrase_typed_decomposed_logs_in(app: Flask, settings: Settings, store: Store) -> None:
    coordinators.add_coordinator(store, settings, "zoe", "caf\u00e9 au lait passphrase")
    client = app.test_client()
    assert Auth(client).login("zoe", "cafe\u0301 au lait passphrase").status_code == 303

