"""The keyholders' pages: propose, sign, decline, allocate, dispute, resolve, re-seal, offline upload."""

from __future__ import annotations

import io
import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers.instance import PASSPHRASE, account_keys, add_coordinator
from helpers.pagecheck import page_problems
from helpers.pages import Auth, codename_from, hidden, request_form

import crypto
from aidnet.config import Settings
from aidnet.decisions import keyholder, membership, proposals, receipts
from aidnet.sealing import readers, reseal, write
from aidnet.store import Store
from aidnet.store import accounts as account_rows
from aidnet.store import decision_log as log_rows
from aidnet.store import requests as request_rows
from aidnet.web import decisions


def token(client: FlaskClient, path: str = "/coordinator/decisions/") -> str:
    page = client.get(path)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and page_problems(text) == [], page_problems(text)
    return hidden(text, "csrf_token")


def test_two_keyholders_govern_through_the_pages(app: Flask, settings: Settings, store: Store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    add_coordinator(settings, "bob", "bob's long passphrase")
    alice, bob = app.test_client(), app.test_client()
    Auth(alice).login()
    Auth(bob).login("bob", "bob's long passphrase")
    requester = app.test_client()
    receipt = requester.post("/", data=request_form(requester, need="DECIDEMARK nappies"))
    codename = codename_from(receipt.get_data(as_text=True))
    # Bob has an account but reads nothing until the group adds him.
    assert "Not sealed to your key" in bob.get("/coordinator/").get_data(as_text=True)
    t = token(alice)
    added = alice.post("/coordinator/decisions/member", data={"csrf_token": t, "account": "2", "card": "", "until": ""})
    # Final at once (quorum 1): the readers changed, so the page goes on to re-seal the open records.
    assert "/coordinator/decisions/reseal?at=start&then=final" in added.headers["Location"]
    resealed = alice.get(added.headers["Location"])
    assert resealed.status_code == 303 and resealed.headers["Location"].endswith("saved=final-resealed")
    # Bob reads the request that came before him.
    assert "DECIDEMARK nappies" in bob.get("/coordinator/").get_data(as_text=True)
    # Quorum 2: from now on allocations need both.
    alice.post("/coordinator/decisions/quorum", data={"csrf_token": t, "quorum": "2", "confirm": "y"})
    request_id = re.search(r"/coordinator/request/([0-9a-f]{32})", alice.get("/coordinator/").get_data(as_text=True)).group(1)
    received = alice.post("/coordinator/stock/", data={"csrf_token": token(alice, "/coordinator/stock/"), "kind": "money",
                                                       "category": "food", "amount": "30", "note": ""})
    assert received.headers["Location"].endswith("saved=pending")  # money received first, signed by the quorum
    receipt = re.search(r'name="proposal" value="([0-9a-f]{32})"', bob.get("/coordinator/decisions/").get_data(as_text=True))
    signed = bob.post("/coordinator/decisions/sign", data={"csrf_token": token(bob), "proposal": receipt.group(1)})
    assert signed.headers["Location"].endswith("saved=final")  # an allocation beyond the balance is refused
    pending = alice.post(f"/coordinator/decisions/request/{request_id}/allocate",
                         data={"csrf_token": t, "source": "money", "amount": "30", "note": "NOTEMARK cash at the hall"})
    assert pending.headers["Location"].endswith("saved=pending")
    assert request_rows.by_id(store, bytes.fromhex(request_id)).status == "new"
    assert "1 decision waits for your signature." in bob.get("/coordinator/").get_data(as_text=True)
    bob_page = bob.get("/coordinator/decisions/").get_data(as_text=True)
    assert "NOTEMARK cash at the hall" in bob_page and "Signed by: alice. 1 more signature is needed." in bob_page
    pid = re.search(r'name="proposal" value="([0-9a-f]{32})"', bob_page).group(1)
    signed = bob.post("/coordinator/decisions/sign", data={"csrf_token": token(bob), "proposal": pid})
    assert signed.headers["Location"].endswith("saved=final")
    assert request_rows.by_id(store, bytes.fromhex(request_id)).status == "allocated"
    # The requester's status page says so.
    status = requester.get("/status").get_data(as_text=True)
    seen = requester.post("/status", data={"csrf_token": hidden(status, "csrf_token"), "codename": codename})
    assert "Help has been agreed for you" in seen.get_data(as_text=True)
    # The requester can see the decision and dispute it with their codename.
    listing = requester.post("/status/decisions", data={"csrf_token": hidden(status, "csrf_token"), "codename": codename})
    assert listing.status_code == 200 and "Help was agreed for you." in listing.get_data(as_text=True)
    assert page_problems(listing.get_data(as_text=True)) == []
    wrong = requester.post("/status/dispute", data={"csrf_token": hidden(status, "csrf_token"), "codename": "bako " * 7,
                                                   "decision": pid, "note": ""})
    assert wrong.status_code == 404
    bad = requester.post("/status/dispute", data={"csrf_token": hidden(status, "csrf_token"), "codename": codename,
                                                  "decision": pid, "note": "bell\x07 KEEPME"})
    assert bad.status_code == 400 and "KEEPME" in bad.get_data(as_text=True)
    assert "cannot be kept" in bad.get_data(as_text=True)
    raised = requester.post("/status/dispute", data={"csrf_token": hidden(status, "csrf_token"), "codename": codename,
                                                     "decision": pid, "note": "REQMARK not what I asked"})
    assert raised.status_code == 200 and "dispute was recorded" in raised.get_data(as_text=True)
    assert "REQMARK not what I asked" in bob.get("/coordinator/decisions/").get_data(as_text=True)
    again = requester.post("/status/dispute", data={"csrf_token": hidden(status, "csrf_token"), "codename": codename,
                                                    "decision": pid, "note": "again"})
    assert again.status_code == 404  # one open dispute at a time
    requester_dispute = next(iter(readers.current(store).open_disputes))
    alice.post("/coordinator/decisions/resolve", data={"csrf_token": t, "dispute": requester_dispute,
                                                       "outcome": "upheld", "note": ""})
    page = bob.get("/coordinator/decisions/").get_data(as_text=True)
    resolution = re.search(r'name="proposal" value="([0-9a-f]{32})"', page).group(1)
    bob.post("/coordinator/decisions/sign", data={"csrf_token": token(bob), "proposal": resolution})
    assert not readers.current(store).open_disputes
    # Bob disputes the allocation from the request page; it stays open until a signed resolution.
    bob.post(f"/coordinator/decisions/request/{request_id}/dispute",
             data={"csrf_token": token(bob), "decision": pid, "note": "wrong family"})
    assert readers.current(store).open_disputes
    dispute = next(iter(readers.current(store).open_disputes))
    alice.post("/coordinator/decisions/resolve", data={"csrf_token": t, "dispute": dispute, "outcome": "upheld",
                                                       "note": "checked"})
    assert readers.current(store).open_disputes  # 1 of 2: still open
    page = bob.get("/coordinator/decisions/").get_data(as_text=True)
    pid = re.search(r'name="proposal" value="([0-9a-f]{32})"', page).group(1)
    bob.post("/coordinator/decisions/sign", data={"csrf_token": token(bob), "proposal": pid})
    assert not readers.current(store).open_disputes
    # Decline: a proposal that can no longer reach quorum closes.
    alice.post("/coordinator/decisions/quorum", data={"csrf_token": t, "quorum": "1", "confirm": "y"})
    page = bob.get("/coordinator/decisions/").get_data(as_text=True)
    pid = re.search(r'name="proposal" value="([0-9a-f]{32})"', page).group(1)
    bob.post("/coordinator/decisions/decline", data={"csrf_token": token(bob), "proposal": pid})
    assert readers.current(store).quorum == 2
    assert "Nothing is waiting." in bob.get("/coordinator/decisions/").get_data(as_text=True)
    assert "NOTEMARK" not in json.dumps(log_rows.records(store))


def test_signing_an_allocation_its_kind_of_help_no_longer_holds_says_so_and_closes_it(
        app: Flask, settings: Settings, store: Store) -> None:
    add_coordinator(settings, "bob", "bob's long passphrase")
    alice, bob = account_keys(store), account_keys(store, "bob", "bob's long passphrase")
    member = membership.member_from_account(account_rows.by_handle(store, "bob"))
    for kind, body in (("add_member", {"member": member}), ("set_quorum", {"quorum": 2})):
        assert proposals.propose(store, settings, alice, proposals.new_proposal(kind, body, alice))
    requester = app.test_client()
    for _ in range(2):
        requester.post("/", data=request_form(requester))  # food
    receipts.receive(store, settings, alice, "money", "food", 100, "")
    receipts.receive(store, settings, alice, "money", "medicine", 100, "")
    for waiting in log_rows.proposals(store):
        proposals.sign(store, settings, waiting.id, bob)
    pids = []
    for row in request_rows.page(store, 0, 2):  # 60 each: each fits food's 100 when proposed
        proposal = proposals.new_proposal("allocation", {"request": row.id.hex(), "source": {
            "kind": "money", "ref": None, "amount": 60}}, alice)
        assert not proposals.propose(store, settings, alice, proposal)
        pids.append(proposal["id"])
    assert proposals.sign(store, settings, pids[0], bob)  # food has 40 left; 140 in all
    client = app.test_client()
    Auth(client).login("bob", "bob's long passphrase")
    signed = client.post("/coordinator/decisions/sign", data={"csrf_token": token(client), "proposal": pids[1]})
    body = signed.get_data(as_text=True)
    assert signed.status_code == 409 and page_problems(body) == []
    assert "There is not enough money for Food: 40 is recorded as received for it and not yet allocated." in body
    assert log_rows.proposal(store, pids[1]).state == "refused" and pids[1] not in json.dumps(log_rows.records(store))


def test_offline_signatures_upload_and_bundle_download(app: Flask, settings: Settings, store: Store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    alice = app.test_client()
    Auth(alice).login()
    card = keyholder.write_keyfile(tmp_path / "k.json", "olu", "offline passphrase",
                                   crypto.Argon2Params(1, 8192, 1))
    t = token(alice)
    added = alice.post("/coordinator/decisions/member", data={"csrf_token": t, "account": "", "card": card.to_text(),
                                                               "until": ""})
    assert added.status_code == 303, added.get_data(as_text=True)
    alice.post("/coordinator/decisions/quorum", data={"csrf_token": t, "quorum": "2", "confirm": "y"})
    alice.post("/coordinator/decisions/quorum", data={"csrf_token": t, "quorum": "1", "confirm": "y"})  # waits for Olu
    bundle = alice.get("/coordinator/decisions/bundle")
    assert bundle.headers["Content-Disposition"].startswith("attachment")
    path = tmp_path / "bundle.json"
    path.write_bytes(bundle.data)
    data, state = keyholder.load_bundle(path)
    _, keys = keyholder.read_keyfile(tmp_path / "k.json", "offline passphrase")
    signatures = keyholder.sign_pending(data, state, keys, [p["proposal"]["id"] for p in data["pending"]])
    upload = alice.post("/coordinator/decisions/signatures", content_type="multipart/form-data",
                        data={"csrf_token": t, "file": (io.BytesIO(json.dumps(signatures).encode()), "sigs.json")})
    assert upload.status_code == 200
    assert "Decisions now final: 1" in upload.get_data(as_text=True)
    assert readers.current(store).quorum == 1
    junk = alice.post("/coordinator/decisions/signatures", content_type="multipart/form-data",
                      data={"csrf_token": t, "file": (io.BytesIO(b"\xff not json"), "x.json")})
    assert junk.status_code == 400 and "not a signatures file" in junk.get_data(as_text=True)
    assert PASSPHRASE  # alice's passphrase never needed for the offline path


def test_unknown_account_is_a_clear_400(client: FlaskClient, auth: Auth) -> None:
    auth.login()
    for account in ("99999999999999999999", "-1", "x"):
        response = client.post("/coordinator/decisions/member", data={"csrf_token": token(client), "account": account,
                                                                      "card": "", "until": ""})
        assert response.status_code == 400
        assert "Choose an account or paste a valid member card." in response.get_data(as_text=True)


def test_bad_allocation_keeps_the_note_and_says_why(client: FlaskClient, auth: Auth, store: Store) -> None:
    client.post("/", data=request_form(client, need="soup"))
    auth.login()
    request_id = re.search(r"/coordinator/request/([0-9a-f]{32})", client.get("/coordinator/").get_data(as_text=True)).group(1)
    t = token(client, f"/coordinator/request/{request_id}")
    for data, message in (({"source": "money", "amount": ""}, "Give the amount of money."),
                          ({"source": "offer:" + "ab" * 16, "amount": ""}, "Choose money, stock or an open offer"),
                          ({"source": "stock", "amount": "-5"}, "Number must be between 1 and 10000000.")):
        response = client.post(f"/coordinator/decisions/request/{request_id}/allocate",
                               data={"csrf_token": t, "note": "KEEP this note", **data})
        assert response.status_code == 400
        body = response.get_data(as_text=True)
        assert message in body and "KEEP this note" in body and page_problems(body) == []
    assert log_rows.proposals(store) == []


def test_resealing_goes_on_page_by_page_without_javascript(app: Flask, settings: Settings, store: Store,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    alice, requester = app.test_client(), app.test_client()
    Auth(alice).login()
    for n in range(3):
        requester.post("/", data=request_form(requester, need=f"open request {n}"))
    monkeypatch.setattr(decisions, "RESEAL_STEP_SECONDS", 0.0)  # one batch a page: the page must go on by itself
    monkeypatch.setattr(reseal, "BATCH", 1)
    response = alice.post("/coordinator/decisions/reseal", data={"csrf_token": token(alice)})
    assert response.status_code == 303
    pages, location = 0, response.headers["Location"]
    while "saved=" not in location and pages < 20:
        response = alice.get(location)
        if response.status_code == 303:
            location = response.headers["Location"]
            continue
        assert response.status_code == 200  # the progress page, which asks for itself again
        pages += 1
        text = response.get_data(as_text=True)
        assert page_problems(text) == []
        refresh = re.search(r'<meta http-equiv="refresh" content="1; url=([^"]+)">', text)
        assert refresh and "of 3 open records done" in text
        location = refresh.group(1).replace("&amp;", "&")
    assert pages >= 2 and location.endswith("saved=resealed")
    assert alice.get("/coordinator/decisions/reseal?at=not-a-cursor").status_code == 400


def test_a_final_membership_decision_stands_when_resealing_cannot_finish(app: Flask, settings: Settings, store: Store,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    add_coordinator(settings, "bob", "bob's long passphrase")
    alice, requester = app.test_client(), app.test_client()
    requester.post("/", data=request_form(requester, need="open before bob"))
    Auth(alice).login()
    added = alice.post("/coordinator/decisions/member", data={"csrf_token": token(alice), "account": "2", "card": "",
                                                              "until": ""})
    monkeypatch.setattr(write, "readers_unchanged", lambda tx, seen: False)  # decisions keep landing meanwhile
    refused = alice.get(added.headers["Location"])
    assert refused.status_code == 503 and "Nothing was kept" in refused.get_data(as_text=True)
    assert len(readers.current(store).members) == 2  # the membership is final all the same; Re-seal can finish later
