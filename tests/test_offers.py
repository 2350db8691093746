"""Offers and stock: sealed like requests, followed by codename, counted only as totals."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from helpers.pagecheck import page_problems
from helpers.pages import Auth, codename_from, hidden, request_form

from aidnet.sealing import write
from aidnet.store import Store, counters
from aidnet.store import requests as request_rows


def offer_form(client: FlaskClient, **overrides: str) -> dict[str, str]:
    page = client.get("/offer").get_data(as_text=True)
    data = {"csrf_token": hidden(page, "csrf_token"), "form_nonce": hidden(page, "form_nonce"), "kind": "transport",
            "category": "transport", "area": "south", "what": "OFFERMARK I have a van on Saturdays", "contact": ""}
    data.update(overrides)
    return data


def test_offer_flow_status_and_withdraw(client: FlaskClient, store: Store) -> None:
    page = client.get("/offer")
    assert page.status_code == 200 and page_problems(page.get_data(as_text=True)) == []
    receipt = client.post("/offer", data=offer_form(client))
    assert receipt.status_code == 201
    codename = codename_from(receipt.get_data(as_text=True))
    token = hidden(client.get("/offer/status").get_data(as_text=True), "csrf_token")
    status = client.post("/offer/status", data={"csrf_token": token, "codename": codename})
    assert status.status_code == 200 and "not yet given to anyone" in status.get_data(as_text=True)
    unknown = client.post("/offer/status", data={"csrf_token": token, "codename": "bako " * 7})
    assert unknown.status_code == 404
    gone = client.post("/offer/withdraw", data={"csrf_token": token, "codename": codename})
    assert gone.status_code == 200 and "erased" in gone.get_data(as_text=True)
    assert store.conn.execute("SELECT count(*) FROM offers").fetchone()[0] == 0
    assert client.post("/offer/status", data={"csrf_token": token, "codename": codename}).status_code == 404
    events = {row[3] for row in counters.all_counters(store)}
    assert {"offered", "offer_withdrawn"} <= events


def test_offer_bad_input_keeps_text(client: FlaskClient, store: Store) -> None:
    response = client.post("/offer", data=offer_form(client, category="", what="keep this van text"))
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "Choose the kind of help from the list." in body and "keep this van text" in body
    assert store.conn.execute("SELECT count(*) FROM offers").fetchone()[0] == 0


def test_coordinator_reads_offers_records_stock_and_allocates_an_offer(client: FlaskClient, auth: Auth,
                                                                       store: Store) -> None:
    client.post("/offer", data=offer_form(client))

    client.post("/", data=request_form(client, need="Need a ride to the clinic"))
    auth.login()
    page = client.get("/coordinator/stock/")
    text = page.get_data(as_text=True)
    assert "OFFERMARK I have a van" in text and page_problems(text) == []
    token = hidden(text, "csrf_token")
    saved = client.post("/coordinator/stock/", data={"csrf_token": token, "kind": "money", "category": "rent",
                                                     "amount": "250", "note": "STOCKMARK from the bake sale"})
    assert saved.status_code == 303
    money = store.conn.execute("SELECT category, direction, amount FROM money").fetchall()
    assert ("rent", "in", 25000) in [tuple(r) for r in money]  # cents
    inbox = client.get("/coordinator/").get_data(as_text=True)
    request_id = re.search(r"/coordinator/request/([0-9a-f]{32})", inbox).group(1)
    request_page = client.get(f"/coordinator/request/{request_id}").get_data(as_text=True)
    offer_value = re.search(r'<option value="(offer:[0-9a-f]{32})"', request_page).group(1)
    done = client.post(f"/coordinator/decisions/request/{request_id}/allocate",
                       data={"csrf_token": token, "source": offer_value, "note": ""})
    assert done.status_code == 303 and "final" in done.headers["Location"]
    assert store.conn.execute("SELECT status FROM offers").fetchone()[0] == "allocated"
    assert request_rows.by_id(store, bytes.fromhex(request_id)).status == "allocated"
    # Nothing sealed is in clear in the database rows.
    for table in ("offers", "stock", "log", "proposals"):
        for row in store.conn.execute(f"SELECT * FROM {table}"):  # noqa: S608
            assert b"OFFERMARK" not in repr(row).encode() and b"STOCKMARK" not in repr(row).encode()


def test_readers_that_keep_changing_get_try_again_not_a_crash(client: FlaskClient, store: Store,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Three decisions in a row landing while sealing: nothing kept, a clear 503, the typed text not in it."""
    monkeypatch.setattr(write, "readers_unchanged", lambda tx, seen: False)
    for path in ("/offer", "/"):
        page = client.get(path).get_data(as_text=True)
        data = {"csrf_token": hidden(page, "csrf_token"), "form_nonce": hidden(page, "form_nonce"),
                "kind": "goods", "category": "food", "area": "north", "what": "marker-9f2 rice",
                "need": "marker-9f2 rice", "contact": "", "urgency": "today"}
        response = client.post(path, data=data)
        assert response.status_code == 503, path
        text = response.get_data(as_text=True)
        assert "Nothing was kept" in text and "marker-9f2" not in text
    assert request_rows.count(store) == 0
