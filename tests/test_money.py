"""Honest money: no allocation beyond the balance, on any path; offline payouts and hand-overs count where they belong."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from helpers.group import Group
from helpers.instance import account_keys
from helpers.pagecheck import page_problems
from helpers.pages import Auth, hidden, request_form
from werkzeug.test import TestResponse

import crypto
from aidnet import dates
from aidnet.config import Settings
from aidnet.decisions import effects, keyholder, offline, proposals, receipts
from aidnet.records.requests import RequestDetails, submit_request
from aidnet.store import Store, counters
from aidnet.store import decision_log as log_rows
from aidnet.store import requests as request_rows


def _request(g: Group, category: str = "food") -> str:
    submit_request(g.store, g.settings, RequestDetails(category, "north", "tins of beans", "", "today"),
                   secrets.token_hex(16))
    return request_rows.page(g.store, 0, 1)[0].id.hex()


def _receive(store: Store, settings: Settings, signers: list[crypto.KeyPair], units: int, category: str = "food") -> None:
    """Money received as the stock form records it: a receipt proposed by the first, signed by the others."""
    receipts.receive(store, settings, signers[0], "money", category, units, "")
    pid = next(p.id for p in log_rows.proposals(store)) if log_rows.proposals(store) else None
    for keys in signers[1:]:
        proposals.sign(store, settings, str(pid), keys)


def _counts(store: Store) -> dict[tuple[str, str, str], int]:
    return {(c, a, e): n for _w, c, a, e, n in counters.counters_for(store, (dates.this_week(),))}


def _money_out(store: Store) -> list[tuple[str, int, int]]:
    return [(c, amount, n) for _w, c, d, amount, n in counters.money_for(store, (dates.this_week(),)) if d == "out"]


def _money(request: str, units: int) -> dict[str, object]:
    return {"request": request, "source": {"kind": "money", "ref": None, "amount": units}}


def _first_request_page(client: FlaskClient) -> tuple[str, str]:
    """(id, page) of the newest request in a logged-in coordinator's inbox."""
    inbox = client.get("/coordinator/").get_data(as_text=True)
    request_id = re.search(r"/coordinator/request/([0-9a-f]{32})", inbox).group(1)
    return request_id, client.get(f"/coordinator/request/{request_id}").get_data(as_text=True)


def _allocate_money(client: FlaskClient, request_id: str, page: str, amount: str, note: str) -> TestResponse:
    return client.post(f"/coordinator/decisions/request/{request_id}/allocate",
                       data={"csrf_token": hidden(page, "csrf_token"), "source": "money", "amount": amount, "note": note})


def test_money_allocation_of_20_with_nothing_received_is_refused_on_the_page(client: FlaskClient, auth: Auth,
                                                                            store: Store, settings: Settings) -> None:
    client.post("/", data=request_form(client, need="rent this month"))
    auth.login()
    request_id, page = _first_request_page(client)
    sent = _allocate_money(client, request_id, page, "20", "KEEP")
    body = sent.get_data(as_text=True)
    assert sent.status_code == 400 and page_problems(body) == []
    assert "There is not enough money for Food: 0 is recorded as received for it and not yet allocated." in body
    assert "KEEP" in body and log_rows.proposals(store) == []
    _receive(store, settings, [account_keys(store)], 20)
    again = _allocate_money(client, request_id, page, "20", "")
    assert again.status_code == 303 and again.headers["Location"].endswith("saved=final")
    assert effects.balance_cents(store) == 0


def test_a_food_allocation_from_medicine_money_is_refused_on_the_page_naming_food_and_keeping_the_form(
        client: FlaskClient, auth: Auth, store: Store, settings: Settings) -> None:
    client.post("/", data=request_form(client, need="rent this month"))  # food
    auth.login()
    _receive(store, settings, [account_keys(store)], 100, "medicine")
    request_id, page = _first_request_page(client)
    sent = _allocate_money(client, request_id, page, "50", "KEEP")
    body = sent.get_data(as_text=True)
    assert sent.status_code == 400 and page_problems(body) == []
    assert "There is not enough money for Food: 0 is recorded as received for it and not yet allocated." in body
    assert "KEEP" in body and 'value="50"' in body
    assert log_rows.proposals(store) == [] and log_rows.all_notes(store) == []  # no sealed note left behind
    assert effects.balance_cents(store) == 10_000


def test_beyond_the_balance_cannot_become_final_by_signing_or_offline(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana", "ben"], quorum=2)
    request = _request(g)
    with pytest.raises(proposals.DecisionRefused, match="not enough money"):
        g.propose("allocation", _money(request, 20), "ana")  # nothing received: refused at once
    _receive(g.store, g.settings, [g.keys["ana"], g.keys["ben"]], 30)
    first, _ = g.propose("allocation", _money(request, 20), "ana")
    second, _ = g.propose("allocation", _money(_request(g), 20), "ana")
    third, _ = g.propose("allocation", _money(_request(g), 15), "ana")
    assert g.sign(first["id"], "ben")  # final: 10 is left
    with pytest.raises(proposals.DecisionRefused, match=r"not enough money .*\(10 available in food\)"):
        g.sign(second["id"], "ben")  # signed in the web: refused and closed
    # Offline: ben signs the third from a bundle; brought back, it is refused too, never final.
    bundle = offline.export_bundle(g.store)
    signed = keyholder.sign_pending(bundle, crypto.log.verify(bundle["log"]), g.keys["ben"], [third["id"]])
    assert offline.import_signatures(g.store, g.settings, signed) == (0, 1, 0)
    waiting = {p.proposal["id"] for p in log_rows.proposals(g.store)}
    final = {r["proposal"]["id"] for r in g.records()}
    assert first["id"] in final and not {second["id"], third["id"]} & (waiting | final)  # closed, never final
    assert effects.balance_cents(g.store) == 1000
    g.close()


def _nothing_kept_for(g: Group, pid: str) -> bool:
    """A refused allocation left nothing behind: no pending row, no kept category or amount, no payout."""
    return (log_rows.proposal(g.store, pid) is None or log_rows.proposal(g.store, pid).state == "refused") \
        and counters.kept_where(g.store, pid) is None and counters.paid_for(g.store, pid) is None


def test_money_for_one_kind_of_help_cannot_pay_for_another_at_proposal(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana", "ben"], quorum=2)
    _receive(g.store, g.settings, [g.keys["ana"], g.keys["ben"]], 100, "medicine")  # nothing for food
    food, medicine = _request(g, "food"), _request(g, "medicine")
    proposal = proposals.new_proposal("allocation", _money(food, 50), g.keys["ana"])
    with pytest.raises(effects.NotEnoughMoney, match=r"for food .*\(0 available in food\)") as short:
        proposals.propose(g.store, g.settings, g.keys["ana"], proposal)
    assert (short.value.category, short.value.available) == ("food", 0) and _nothing_kept_for(g, proposal["id"])
    with pytest.raises(proposals.DecisionRefused, match=r"for medicine .*\(100 available in medicine\)"):
        g.propose("allocation", _money(medicine, 150), "ana")
    assert log_rows.proposals(g.store) == [] and counters.paid_by_category(g.store) == {}
    assert not [k for k in _counts(g.store) if k[2] == "allocated"] and _money_out(g.store) == []
    assert effects.balance_cents(g.store) == 10_000
    _proposal, final = g.propose("allocation", _money(medicine, 100), "ana")  # its own kind of help holds it
    assert not final and effects.money_available(g.store, "medicine") == 100  # counts once final
    g.close()


def test_money_for_one_kind_of_help_cannot_pay_for_another_when_signed_or_brought_from_offline(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana", "ben"], quorum=2)
    _receive(g.store, g.settings, [g.keys["ana"], g.keys["ben"]], 100, "food")
    _receive(g.store, g.settings, [g.keys["ana"], g.keys["ben"]], 100, "medicine")
    first, _ = g.propose("allocation", _money(_request(g), 60), "ana")
    second, _ = g.propose("allocation", _money(_request(g), 60), "ana")  # each fits food's 100 when proposed
    third, _ = g.propose("allocation", _money(_request(g), 50), "ana")
    assert g.sign(first["id"], "ben")  # final: food has 40 left, the whole balance 140
    with pytest.raises(effects.NotEnoughMoney, match=r"for food .*\(40 available in food\)"):
        g.sign(second["id"], "ben")  # the 140 in all would have let it through
    bundle = offline.export_bundle(g.store)
    signed = keyholder.sign_pending(bundle, crypto.log.verify(bundle["log"]), g.keys["ben"], [third["id"]])
    assert offline.import_signatures(g.store, g.settings, signed) == (0, 1, 0)  # refused, never final
    final = {r["proposal"]["id"] for r in g.records()}
    assert first["id"] in final and not {second["id"], third["id"]} & final
    assert all(_nothing_kept_for(g, pid) for pid in (second["id"], third["id"]))
    assert log_rows.proposals(g.store) == []
    assert counters.paid_by_category(g.store) == {"food": (0, 60)} and effects.balance_cents(g.store) == 14_000
    assert _counts(g.store)[("food", "north", "allocated")] == 1
    assert [(b.category, b.available) for b in receipts.balances(g.store, g.settings) if b.received] == \
        [("food", 40), ("medicine", 100)]
    g.close()


def test_a_payout_from_before_payouts_kept_their_category_stays_in_the_total_so_no_category_spends_it_again(
        tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana"], quorum=1)
    _receive(g.store, g.settings, [g.keys["ana"]], 100, "food")
    request = _request(g)
    with g.store.write() as tx:  # as an older version recorded a payout: no category, no week
        counters.record_paid(tx, secrets.token_hex(16), request, 70)
    balances = {b.category: (b.received, b.allocated, b.available) for b in receipts.balances(g.store, g.settings)}
    assert balances["food"] == (100, 0, 30) and balances["unknown"] == (0, 70, -70)  # food holds 30 of the 100
    assert effects.balance_cents(g.store) == 3000
    with pytest.raises(effects.NotEnoughMoney, match=r"\(30 available in food\)"):
        g.propose("allocation", _money(_request(g), 40), "ana")
    assert g.propose("allocation", _money(_request(g), 30), "ana")[1]
    assert effects.money_available(g.store, "food") == 0 and effects.balance_cents(g.store) == 0
    g.close()


def test_a_payout_from_before_payouts_kept_their_category_takes_its_requests_once_a_keyholder_reads_it(
        tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana"], quorum=1)
    _receive(g.store, g.settings, [g.keys["ana"]], 100, "food")
    _receive(g.store, g.settings, [g.keys["ana"]], 100, "medicine")
    kept, gone = _request(g, "food"), _request(g, "medicine")
    assert g.propose("allocation", _money(kept, 30), "ana")[1] and g.propose("allocation", _money(gone, 20), "ana")[1]
    with g.store.write() as tx:  # as an older version kept them (no category, no week); one request erased since,
        tx.execute("UPDATE money_paid SET category = NULL, week = NULL")  # and its payout row pointed elsewhere
        tx.execute("UPDATE money_paid SET request = ? WHERE request = ?", (kept, gone))
        tx.execute("DELETE FROM requests WHERE id = ?", (bytes.fromhex(gone),))
    assert effects.money_available(g.store, "food") == 100 and effects.balance_cents(g.store) == 15_000
    assert effects.recover_payout_categories(g.store, g.keys["ana"]) == 1  # from the request the log names
    assert effects.recover_payout_categories(g.store, g.keys["ana"]) == 0
    balances = {b.category: (b.received, b.allocated, b.available) for b in receipts.balances(g.store, g.settings)}
    assert balances["food"] == (100, 30, 70) and balances["unknown"] == (0, 20, -20)
    assert balances["medicine"] == (100, 0, 100)  # the erased one's 20 is in the total only
    g.close()


def test_opening_offers_and_stock_gives_an_old_payout_its_requests_category(client: FlaskClient, auth: Auth,
                                                                            store: Store, settings: Settings) -> None:
    client.post("/", data=request_form(client))  # food
    auth.login()
    _receive(store, settings, [account_keys(store)], 100, "food")
    request = request_rows.page(store, 0, 1)[0].id.hex()
    proposal = proposals.new_proposal("allocation", _money(request, 30), account_keys(store))
    assert proposals.propose(store, settings, account_keys(store), proposal)
    with store.write() as tx:  # as an older version kept it
        tx.execute("UPDATE money_paid SET category = NULL, week = NULL")
    assert counters.paid_by_category(store) == {"unknown": (0, 30)}
    page = client.get("/coordinator/stock/").get_data(as_text=True)
    assert counters.paid_by_category(store) == {"food": (0, 30)} and page_problems(page) == []
    assert "Received by signed receipts and not yet allocated: 70." in page and ">unknown<" not in page


def test_offline_payout_counts_in_its_category_once_per_request_and_handover_counts_fulfilled(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana", "ben"], quorum=2)
    request = _request(g)  # food, north
    _receive(g.store, g.settings, [g.keys["ana"], g.keys["ben"]], 900)
    pids = [g.propose("allocation", _money(request, units), "ana")[0]["id"] for units in (400, 300)]
    for pid in pids:  # one bundle each: a seal is for one place in the log
        bundle = offline.export_bundle(g.store)
        signed = keyholder.sign_pending(bundle, crypto.log.verify(bundle["log"]), g.keys["ben"], [pid])
        assert offline.import_signatures(g.store, g.settings, signed) == (1, 0, 1)  # final without keys at hand
    assert _counts(g.store)[("food", "north", "allocated")] == 1
    assert not [k for k in _counts(g.store) if "unknown" in k]
    # Two payouts for one request: counted once, the amount clipped at money_clip (500 units) per request.
    assert _money_out(g.store) == [("food", g.settings.policy.money_clip, 1)]
    allocation = pids[0]
    handover, _ = g.propose("distribution", {"request": request, "allocation": allocation}, "ana")
    assert g.sign(handover["id"], "ben")
    counts = _counts(g.store)
    assert counts[("food", "north", "distributed")] == 1 and counts[("food", "north", "fulfilled")] == 1
    assert request_rows.by_id(g.store, bytes.fromhex(request)).status == "fulfilled"
    g.close()


def test_the_log_carries_only_the_band_of_an_amount_and_the_balance_the_exact_amount(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana"], quorum=1)
    _receive(g.store, g.settings, [g.keys["ana"]], 100)
    request = _request(g)
    proposal, final = g.propose("allocation", _money(request, 23), "ana")
    assert final and effects.balance_cents(g.store) == 7700  # exact: 100 - 23
    record = next(r for r in g.records() if r["proposal"]["id"] == proposal["id"])
    assert record["proposal"]["body"]["source"]["amount"] == 50  # 23 is in the band up to 50
    bundle = offline.export_bundle(g.store)  # what an offline keyholder or an auditor holds
    assert all(r["proposal"]["body"].get("source", {}).get("amount") in (None, 50) for r in bundle["log"])
    assert [effects.band(n) for n in (1, 2, 3, 5, 6, 10, 11, 23, 51, 499, 501, 10_000_000)] == \
        [1, 2, 5, 5, 10, 10, 20, 50, 100, 500, 1000, 10_000_000]
    assert effects.exact_amount(g.store, proposal) == 23  # the coordinators' pages show the exact amount
    g.close()


def test_offers_and_stock_shows_the_money_not_yet_allocated(client: FlaskClient, auth: Auth, store: Store,
                                                            settings: Settings) -> None:
    auth.login()
    assert "Received by signed receipts and not yet allocated: 0." in client.get("/coordinator/stock/").get_data(as_text=True)
    _receive(store, settings, [account_keys(store)], 35)
    page = client.get("/coordinator/stock/").get_data(as_text=True)
    assert "Received by signed receipts and not yet allocated: 35." in page and page_problems(page) == []
