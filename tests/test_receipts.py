"""Money and stock received are signed receipts; budgets and the threshold are decisions; money tables follow
the magnitude-table rules (minimum contributors, p% dominance)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import secrets
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from helpers.group import Group, details
from helpers.instance import account_keys
from helpers.pagecheck import page_problems
from helpers.pages import Auth, hidden, request_form

import crypto
from aidnet import dates
from aidnet.config import Settings
from aidnet.decisions import effects, keyholder, offline, proposals, receipts
from aidnet.exports import suppression
from aidnet.exports.releases import make_release
from aidnet.exports.suppression import DOMINANT, TOO_FEW, magnitude_column, magnitude_withheld
from aidnet.records import offers
from aidnet.records.requests import submit_request
from aidnet.sealing import readers
from aidnet.store import Store, counters
from aidnet.store import decision_log as log_rows
from aidnet.store import requests as request_rows
from aidnet.web.app import create_app


def _pending(store: Store) -> str:
    return str(log_rows.proposals(store)[-1].id)


def _money_in(store: Store) -> list[tuple[str, int, int]]:
    return [(c, amount, n) for _w, c, d, amount, n in counters.money_for(store, (dates.this_week(),)) if d == "in"]


def _request(g: Group) -> str:
    submit_request(g.store, g.settings, details(), secrets.token_hex(16))
    return request_rows.page(g.store, 0, 1)[0].id.hex()


def test_money_below_the_threshold_is_final_with_one_signature_and_from_it_up_waits_for_the_quorum(
        tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana", "ben"], quorum=2)
    assert receipts.threshold(g.store) == 0
    assert not receipts.receive(g.store, g.settings, g.keys["ana"], "money", "food", 5, "")  # default: every gift
    g.sign(_pending(g.store), "ben")
    assert effects.balance_cents(g.store) == 500
    g.decide("set_threshold", {"threshold": 100, "note": None}, ["ana", "ben"])
    assert receipts.threshold(g.store) == 100
    assert receipts.receive(g.store, g.settings, g.keys["ana"], "money", "food", 30, "from the bake sale")
    assert effects.balance_cents(g.store) == 3500
    assert not receipts.receive(g.store, g.settings, g.keys["ana"], "money", "rent", 100, "")  # at it: the quorum
    assert not receipts.receive(g.store, g.settings, g.keys["ana"], "money", "rent", 60, "")  # band 100: the quorum
    assert effects.balance_cents(g.store) == 3500  # waiting receipts count nothing
    for proposal in log_rows.proposals(g.store):
        g.sign(proposal.id, "ben")
    assert effects.balance_cents(g.store) == 19500
    assert receipts.receive(g.store, g.settings, g.keys["ana"], "goods", "food", 400, "tins")  # goods: one signature
    assert {b.category: (b.received, b.allocated, b.available) for b in receipts.balances(g.store, g.settings)
            if b.received} == {"food": (35, 0, 35), "rent": (160, 0, 160)}
    assert sorted(_money_in(g.store)) == [("food", 3500, 2), ("rent", 16000, 2)]
    crypto.log.verify(g.records(), g.genesis)
    g.close()


def _numbers(value: object) -> set[int]:
    """Every whole number anywhere in a JSON-like value (hex ids and signatures are strings, not numbers)."""
    if isinstance(value, bool):
        return set()
    if isinstance(value, int):
        return {value}
    if isinstance(value, dict):
        return set().union(*(_numbers(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_numbers(v) for v in value)) if value else set()
    return set()


def test_the_log_carries_a_receipts_band_and_category_never_its_exact_amount_or_details(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana"], quorum=1)
    receipts.receive(g.store, g.settings, g.keys["ana"], "money", "medicine", 137, "Maria at the market")
    record = g.records()[-1]
    assert record["proposal"]["type"] == "receipt"
    assert record["proposal"]["body"]["amount"] == 200 and record["proposal"]["body"]["category"] == "medicine"
    assert 137 not in _numbers(offline.export_bundle(g.store)) and "Maria" not in json.dumps(offline.export_bundle(g.store))
    assert effects.balance_cents(g.store) == 13700
    g.close()


def test_an_allocation_takes_from_the_category_it_is_for_in_the_balances(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana"], quorum=1)
    receipts.receive(g.store, g.settings, g.keys["ana"], "money", "food", 50, "")
    g.propose("allocation", {"request": _request(g), "source": {"kind": "money", "ref": None, "amount": 20}}, "ana")
    food = next(b for b in receipts.balances(g.store, g.settings) if b.category == "food")
    assert (food.received, food.allocated, food.available) == (50, 20, 30)
    g.close()


def _forged(g: Group, body: dict[str, object], signers: list[str], seal: bool) -> dict[str, object]:
    """A receipt record as a database writer would append it, with these members' signatures (if any)."""
    proposal = proposals.new_proposal("receipt", body, g.keys["ana"])
    state = readers.current(g.store)
    signatures = [crypto.log.sign_proposal(proposal, g.keys[n].sign_seed, state, today=dates.today()) for n in signers]
    return crypto.log.new_record(state, proposal, signatures, dates.today(), sealer=g.keys["ana"] if seal else None)


def test_the_server_cannot_forge_a_money_receipt(tmp_path: Path) -> None:
    """A database writer without a keyholder's keys: a receipt with no signature, or with one where the quorum is
    needed, does not verify and the balance does not count it; nor do rows it writes beside the log."""
    g = Group(tmp_path, ["ana", "ben"], quorum=2)
    before = g.records()
    body = {"kind": "money", "category": "food", "amount": 500, "note": None}
    unsigned = _forged(g, body, [], seal=False)
    with pytest.raises(crypto.log.LogError, match="0 of 2 required signatures"):
        crypto.log.verify([*before, unsigned], g.genesis)
    # One keyholder's signature (and even their seal, as if they had been tricked into one) is not the quorum.
    one = _forged(g, body, ["ana"], seal=True)
    with pytest.raises(crypto.log.LogError, match="1 of 2 required signatures"):
        crypto.log.verify([*before, one], g.genesis)
    # Raised to below a threshold it never signed: the amount is signed, so the signature no longer holds.
    g.decide("set_threshold", {"threshold": 1000, "note": None}, ["ana", "ben"])
    assert receipts.receive(g.store, g.settings, g.keys["ana"], "money", "food", 200, "")
    tampered = [dict(r) for r in g.records()]
    tampered[-1] = {**tampered[-1], "proposal": {**tampered[-1]["proposal"],
                                                 "body": {**tampered[-1]["proposal"]["body"], "amount": 500}}}
    with pytest.raises(crypto.log.LogError):
        crypto.log.verify(tampered, g.genesis)
    # Rows written beside the log: an exact amount above the signed band, and a receipt that is not in the log.
    with g.store.write() as tx:
        counters.record_received(tx, secrets.token_hex(16), "food", dates.this_week(), 9000)
    with g.store.write() as tx:
        tx.execute("UPDATE money_received SET amount = 100000")
    assert effects.balance_cents(g.store) == 20000  # the one signed receipt, at most its band of 200
    g.close()


def test_entries_recorded_before_receipts_were_signed_count_only_once_proposed_and_never_twice_in_the_counters(
        tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana"], quorum=1)
    # As the old form did: a sealed row with no receipt, counted in the public counters at once; the migration
    # then marks every such row counted.
    offers.record_stock(g.store, g.settings, "money", "food", 40, "old", None)
    with g.store.write() as tx:
        counters.bump_money(tx, dates.this_week(), "food", "in", 4000)
        tx.execute("UPDATE stock SET counted = 1")
    assert effects.balance_cents(g.store) == 0  # not signed: it does not count for the balance
    counted = _money_in(g.store)
    entry = offers.stock_received(g.store, g.keys["ana"])[0]
    assert entry is not None and entry.receipt == ""
    assert receipts.receive_recorded(g.store, g.settings, g.keys["ana"], entry.seq)
    assert effects.balance_cents(g.store) == 4000 and _money_in(g.store) == counted == [("food", 4000, 1)]
    with pytest.raises(receipts.AlreadyProposed):
        receipts.receive_recorded(g.store, g.settings, g.keys["ana"], entry.seq)
    g.close()


@pytest.mark.parametrize(("amounts", "expected"), [
    ([], None),  # nothing moved: 0 reveals nobody
    ([100], TOO_FEW),
    ([50, 30], TOO_FEW),
    ([100, 50, 5], DOMINANT),  # rest 5 < 10% of 100
    ([100, 50, 9], DOMINANT),
    ([100, 50, 10], None),  # rest 10 is not below 10: shown (the boundary)
    ([40, 30, 20, 10], None),  # rest 30 >= 4
    ([1000] + [10] * 10, DOMINANT),  # rest 90 (nine 10s) < 100
    ([1000] + [10] * 11, None),  # rest 100 is not below 100
    ([0, 0, 5], TOO_FEW),  # only what moved money counts as a contributor
    ([50, 40, 1], DOMINANT),  # one unit is a contributor: three of them, and a rest of 1 < 5
    ([1010, 500, 100], DOMINANT),  # rest 100 is below 101 (10% of 1010), if only just
])
def test_the_p_percent_rule_with_known_answers(amounts: list[int], expected: str | None) -> None:
    assert magnitude_withheld(amounts, 3, 10) == expected


def test_the_p_percent_rule_follows_p_and_the_minimum() -> None:
    assert magnitude_withheld([100, 50, 20], 3, 25) == DOMINANT and magnitude_withheld([100, 50, 20], 3, 20) is None
    assert magnitude_withheld([10, 10, 10], 4, 10) == TOO_FEW and magnitude_withheld([10, 10, 10, 10], 4, 10) is None


def test_a_total_never_gives_a_withheld_money_cell_away() -> None:
    ok, lone, even = [100, 50, 10], [100], [30, 30, 30]
    reasons, total = magnitude_column({"food": ok, "rent": lone, "medicine": even}, 3, 10)
    assert reasons == {"food": None, "rent": TOO_FEW, "medicine": None} and total == TOO_FEW  # one withheld
    reasons, total = magnitude_column({"food": ok, "rent": [100], "other": [100]}, 3, 10)
    assert total == TOO_FEW  # two withheld, but their pooled sum is two gifts: still too few
    reasons, total = magnitude_column({"food": ok, "rent": [60], "childcare": [50], "other": [40]}, 3, 10)
    assert reasons["rent"] == TOO_FEW and total is None  # pooled 60, 50, 40 passes: the total may be shown
    assert magnitude_column({"food": ok, "medicine": even}, 3, 10) == ({"food": None, "medicine": None}, None)
    assert suppression.magnitude_withheld([0, 0], 3, 10) is None


def test_a_money_total_says_its_own_reason_and_two_withheld_cells_pooled_may_let_it_show() -> None:
    # 700, 40, 35, 30: one gift is most of the total, which says so (the lone 700 is withheld as too few).
    assert magnitude_column({"food": [700], "rent": [40, 35, 30]}, 3, 10) == ({"food": TOO_FEW, "rent": None}, DOMINANT)
    # Two cells withheld, one of one gift and one of two: pooled they are three, none dominant, so the total shows.
    reasons, total = magnitude_column({"food": [100, 50, 10], "rent": [60], "childcare": [50, 40]}, 3, 10)
    assert reasons == {"food": None, "rent": TOO_FEW, "childcare": TOO_FEW} and total is None


def test_a_monthly_release_publishes_budget_received_and_spent_exactly_where_no_one_can_be_worked_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dates, "this_week", lambda: "2026-W09")  # money moves in a week of February 2026
    g = Group(tmp_path, ["ana"], quorum=1)
    g.decide("set_budget", {"category": "food", "amount": 300, "note": None}, ["ana"])
    g.decide("set_budget", {"category": "rent", "amount": 800, "note": None}, ["ana"])
    for units in (40, 35, 30):
        receipts.receive(g.store, g.settings, g.keys["ana"], "money", "food", units, "")
    receipts.receive(g.store, g.settings, g.keys["ana"], "money", "rent", 700, "")  # one gift: withheld
    g.propose("allocation", {"request": _request(g), "source": {"kind": "money", "ref": None, "amount": 25}}, "ana")
    row, _made = make_release(g.store, g.settings, "2026-02", dt.date(2026, 3, 18))
    money = json.loads(row.manifest)["money"]
    by = {r[0]: r[1:] for r in money["rows"]}
    assert by["food"] == [300, 105, None, None, suppression.TOO_FEW]  # 3 gifts shown exactly; 1 payout withheld
    assert by["rent"] == [800, None, suppression.TOO_FEW, 0, None]
    # 700, 40, 35, 30: the rest after the two largest (65) is below 10% of 700, so the gift of 700 dominates.
    assert money["total"]["received"] is None and money["total"]["received_withheld"] == suppression.DOMINANT
    assert money["total"]["budget"] == 1100 and money["dominance_p"] == 10 and money["min_contributors"] == 3
    assert "2026-02,money_month,food,received,105" in row.csv.decode()
    app = create_app(dataclasses.replace(g.settings, currency="EUR"))
    english = app.test_client().get("/transparency/?period=2026-02").get_data(as_text=True)
    assert re.search(r'Food</th><td data-label="Budget">€300</td><td data-label="Received">€105</td>'
                     r'<td data-label="Spent">withheld: fewer than 3 gifts or requests</td>', english)
    assert page_problems(english) == []
    assert "withheld: one gift or request is most of it" in english and "€1,100" in english
    spanish = app.test_client().get("/es/transparency/?period=2026-02").get_data(as_text=True)
    assert "105\xa0€" in spanish and "1.100\xa0€" in spanish  # the page language's own conventions
    g.close()


def test_the_stock_form_records_a_signed_receipt_and_the_pages_show_money_in_the_groups_currency(
        settings: Settings, tmp_path: Path) -> None:
    settings = dataclasses.replace(settings, currency="EUR")
    app = create_app(settings)
    app.config["TESTING"] = True
    client: FlaskClient = app.test_client()
    Auth(client).login()
    page = client.get("/coordinator/stock/").get_data(as_text=True)
    sent = client.post("/coordinator/stock/", data={"csrf_token": hidden(page, "csrf_token"), "kind": "money",
                                                    "category": "food", "amount": "1234", "note": "SECRET NOTE"})
    assert sent.status_code == 303 and sent.headers["Location"].endswith("saved=final")
    page = client.get("/coordinator/stock/?saved=final").get_data(as_text=True)
    assert "Recorded and final: it counts now." in page and page_problems(page) == []
    assert "Received by signed receipts and not yet allocated: €1,234." in page
    assert re.search(r'<td data-label="Kind of help">Food</td><td data-label="Budget each month">none</td>'
                     r'<td data-label="Received this month">€1,234</td>', page)
    budget = client.post("/coordinator/stock/budget", data={"csrf_token": hidden(page, "csrf_token"),
                                                            "category": "food", "amount": "500"})
    assert budget.status_code == 303
    decisions = client.get("/coordinator/decisions/").get_data(as_text=True)
    assert "money received for Food: €1,234" in decisions and "a monthly budget of €500 for Food" in decisions
    assert "€500" in client.get("/coordinator/stock/").get_data(as_text=True)
    bad = client.post("/coordinator/stock/budget", data={"csrf_token": hidden(page, "csrf_token"), "category": "food",
                                                          "amount": "-3"})
    assert bad.status_code == 400 and page_problems(bad.get_data(as_text=True)) == []


def test_a_receipt_form_with_a_wrong_amount_keeps_what_was_typed(client: FlaskClient, auth: Auth) -> None:
    auth.login()
    page = client.get("/coordinator/stock/").get_data(as_text=True)
    sent = client.post("/coordinator/stock/", data={"csrf_token": hidden(page, "csrf_token"), "kind": "money",
                                                    "category": "food", "amount": "zero", "note": "KEEP ME"})
    body = sent.get_data(as_text=True)
    assert sent.status_code == 400 and "KEEP ME" in body and page_problems(body) == []


def test_the_offline_keyholder_tool_says_what_a_receipt_a_budget_and_a_threshold_change(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana", "ben"], quorum=2)
    receipts.receive(g.store, g.settings, g.keys["ana"], "money", "food", 137, "")
    g.propose("set_budget", {"category": "rent", "amount": 800, "note": None}, "ana")
    g.propose("set_threshold", {"threshold": 50, "note": None}, "ana")
    bundle = offline.export_bundle(g.store)
    state = crypto.log.verify(bundle["log"])
    words = [keyholder.describe(p["proposal"], state) for p in bundle["pending"]]
    assert any("money received for food: up to 200 (the band" in w and "2 signature(s) needed" in w for w in words)
    assert any("monthly budget for rent becomes 800" in w for w in words)
    assert any("money received from 50 up needs the quorum (now from 0)" in w for w in words)
    g.close()


def test_the_allocation_form_shows_the_money_available_in_each_kind_of_help(client: FlaskClient, auth: Auth,
                                                                          store: Store, settings: Settings) -> None:
    client.post("/", data=request_form(client, need="rent this month"))
    auth.login()
    receipts.receive(store, settings, account_keys(store), "money", "food", 50, "")
    receipts.receive(store, settings, account_keys(store), "money", "rent", 20, "")
    request_id = re.search(r"/coordinator/request/([0-9a-f]{32})", client.get("/coordinator/").get_data(as_text=True))
    page = client.get(f"/coordinator/request/{request_id.group(1)}").get_data(as_text=True)
    assert "Money (not yet allocated: 70; by kind of help: Food 50, Rent or bills 20)" in page
