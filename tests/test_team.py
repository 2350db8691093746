"""Coordinators working together (issue 15): what a tired volunteer clicks must never undo a decision."""

from __future__ import annotations

import re
import secrets

from flask import Flask
from flask.testing import FlaskClient
from helpers.instance import PASSPHRASE, account_keys, add_coordinator, send_reply
from helpers.pages import Auth, hidden, request_form

from aidnet.config import Settings
from aidnet.decisions import proposals
from aidnet.records import offers, requests
from aidnet.store import Store
from aidnet.store import decision_log as log_rows
from aidnet.store import requests as request_rows

BOB = "bob's long passphrase"


def _new_request(client: FlaskClient, store: Store, need: str = "nappies, size 4") -> str:
    client.post("/", data=request_form(client, need=need))
    return request_rows.page(store, 0, 1)[0].id.hex()


def _allocate(store: Store, settings: Settings, request_id: str) -> str:
    keys = account_keys(store)
    proposal = proposals.new_proposal("allocation", {"request": request_id, "source": {"kind": "stock", "ref": None},
                                                     "note": None}, keys)
    assert proposals.propose(store, settings, keys, proposal)
    return str(proposal["id"])


def _options(page: str) -> list[tuple[str, bool]]:
    """The status select's options as (value, preselected), in order."""
    select = re.search(r'<select[^>]*name="status".*?</select>', page, re.S)
    assert select, page
    return [(m.group(2), "selected" in m.group(1) + m.group(3))
            for m in re.finditer(r'<option([^>]*)value="([^"]*)"([^>]*)>', select.group(0))]


def test_the_status_form_keeps_an_allocated_request_allocated(app: Flask, settings: Settings, store: Store,
                                                               client: FlaskClient) -> None:
    request_id = _new_request(client, store)
    _allocate(store, settings, request_id)
    Auth(client).login()
    page = client.get(f"/coordinator/request/{request_id}").get_data(as_text=True)
    assert _options(page) == [("allocated", True), ("closed", False)]
    # "Save status" pressed without touching anything: nothing changes.
    saved = client.post(f"/coordinator/request/{request_id}/status",
                        data={"csrf_token": hidden(page, "csrf_token"), "status": "allocated"})
    assert saved.status_code == 303
    assert request_rows.by_id(store, bytes.fromhex(request_id)).status == "allocated"  # type: ignore[union-attr]
    # A status the state machine forbids, sent by hand, is refused with the page and a message.
    back = client.post(f"/coordinator/request/{request_id}/status",
                       data={"csrf_token": hidden(page, "csrf_token"), "status": "new"})
    assert back.status_code == 400 and "Choose a status from the list." in back.get_data(as_text=True)
    assert request_rows.by_id(store, bytes.fromhex(request_id)).status == "allocated"  # type: ignore[union-attr]


def test_every_status_offers_only_where_it_may_go(client: FlaskClient, store: Store) -> None:
    request_id = _new_request(client, store)
    Auth(client).login()
    page = client.get(f"/coordinator/request/{request_id}").get_data(as_text=True)
    assert _options(page) == [("new", True), ("in_progress", False), ("fulfilled", False), ("closed", False)]
    client.post(f"/coordinator/request/{request_id}/status",
                data={"csrf_token": hidden(page, "csrf_token"), "status": "closed"})
    page = client.get(f"/coordinator/request/{request_id}").get_data(as_text=True)
    assert _options(page) == [("closed", True), ("in_progress", False)]


def test_a_hand_over_cannot_be_proposed_twice(settings: Settings, store: Store, client: FlaskClient) -> None:
    request_id = _new_request(client, store)
    allocation = _allocate(store, settings, request_id)
    Auth(client).login()
    page = client.get(f"/coordinator/request/{request_id}").get_data(as_text=True)
    assert "Propose: handed over" in page
    first = client.post(f"/coordinator/decisions/request/{request_id}/handover",
                        data={"csrf_token": hidden(page, "csrf_token"), "proposal": allocation})
    assert first.status_code == 303
    page = client.get(f"/coordinator/request/{request_id}").get_data(as_text=True)
    assert "Propose: handed over" not in page
    again = client.post(f"/coordinator/decisions/request/{request_id}/handover",
                        data={"csrf_token": hidden(page, "csrf_token"), "proposal": allocation})
    assert again.status_code == 409
    kinds = [r["proposal"]["type"] for r in log_rows.records(store)]
    assert kinds.count("distribution") == 1


def _decisions_token(client: FlaskClient) -> tuple[str, str]:
    page = client.get("/coordinator/decisions/").get_data(as_text=True)
    return page, hidden(page, "csrf_token")


def test_with_a_quorum_of_one_the_page_says_every_proposal_is_final_at_once(client: FlaskClient) -> None:
    Auth(client).login()
    page, _token = _decisions_token(client)
    assert "The quorum is 1: every proposal is final the moment it is made" in page
    assert "1 record," in page and "1 records" not in page
    assert "`" not in page  # no Markdown left in labels


def test_destructive_proposals_need_a_tick(app: Flask, settings: Settings, store: Store, client: FlaskClient) -> None:
    Auth(client).login()
    page, token = _decisions_token(client)
    me = re.search(r'name="sign" value="([0-9a-f]{64})"', page).group(1)  # type: ignore[union-attr]
    assert 'class="danger"' in page
    refused = client.post("/coordinator/decisions/member/remove", data={"csrf_token": token, "sign": me})
    assert refused.status_code == 400
    assert "Tick the box to confirm: a removal takes their reading away." in refused.get_data(as_text=True)
    quorum = client.post("/coordinator/decisions/quorum", data={"csrf_token": token, "quorum": "1"})
    assert quorum.status_code == 400 and "Tick the box to confirm the new quorum." in quorum.get_data(as_text=True)
    assert log_rows.proposals(store) == [] and len(log_rows.records(store)) == 1


def test_the_history_lists_final_decisions_newest_first_a_page_at_a_time(
        settings: Settings, store: Store, client: FlaskClient) -> None:
    for n in range(25):
        request_id = _new_request(client, store, f"request {n}")
        _allocate(store, settings, request_id)
    Auth(client).login()
    page, _token = _decisions_token(client)
    history = page[page.index("Decisions made"):page.index("<h2>Members")]
    assert history.count("<li") == 20 and "Older decisions" in history and "Newer decisions" not in history
    assert "signed by: alice." in history and "Proposed by alice, card" in history
    assert history.index("request 25") < history.index("request 24")  # newest first
    older = client.get("/coordinator/decisions/?history=2").get_data(as_text=True)
    rest = older[older.index("Decisions made"):older.index("<h2>Members")]
    assert rest.count("<li") == 6 and "Founding of the group" in rest and "Newer decisions" in rest


def _bob_member(app: Flask, settings: Settings) -> tuple[FlaskClient, FlaskClient]:
    """Alice (founder, quorum 1) and Bob, made a member through the pages; both logged in."""
    add_coordinator(settings, "bob", BOB)
    alice, bob = app.test_client(), app.test_client()
    Auth(alice).login()
    Auth(bob).login("bob", BOB)
    page = alice.get("/coordinator/decisions/").get_data(as_text=True)
    added = alice.post("/coordinator/decisions/member",
                       data={"csrf_token": hidden(page, "csrf_token"), "account": "2", "card": "", "until": ""})
    alice.get(added.headers["Location"])  # the re-seal it asks for
    return alice, bob


def _inbox(client: FlaskClient, query: str = "") -> str:
    page = client.get("/coordinator/" + query)
    assert page.status_code == 200, page.status_code
    return page.get_data(as_text=True)


def test_claim_hand_over_and_filter(app: Flask, settings: Settings, store: Store) -> None:
    alice, bob = _bob_member(app, settings)
    requester = app.test_client()
    first = _new_request(requester, store, "CLAIMONE rice")
    second = _new_request(requester, store, "CLAIMTWO formula")
    page = alice.get(f"/coordinator/request/{first}").get_data(as_text=True)
    assert "Nobody yet" in page and "I'll handle this" in page
    claimed = alice.post(f"/coordinator/request/{first}/handler",
                         data={"csrf_token": hidden(page, "csrf_token"), "handler": "1"})
    assert claimed.status_code == 303 and claimed.headers["Location"].endswith("saved=handler")
    page = bob.get(f"/coordinator/request/{first}").get_data(as_text=True)
    assert re.search(r"Handled by</dt><dd>alice<", page), page
    # Mine / nobody yet: on what is kept in clear, each request in one list only.
    mine = _inbox(alice, "?who=mine")
    assert "CLAIMONE" in mine and "CLAIMTWO" not in mine
    unassigned = _inbox(alice, "?who=unassigned")
    assert "CLAIMTWO" in unassigned and "CLAIMONE" not in unassigned
    assert "CLAIMONE" not in _inbox(bob, "?who=mine")
    # Alice hands it to Bob; then it is his.
    page = alice.get(f"/coordinator/request/{first}").get_data(as_text=True)
    alice.post(f"/coordinator/request/{first}/handler", data={"csrf_token": hidden(page, "csrf_token"), "handler": "2"})
    assert "CLAIMONE" in _inbox(bob, "?who=mine") and "CLAIMONE" not in _inbox(alice, "?who=mine")
    # Waiting for the requester: after a reply, until the requester answers.
    send_reply(store, settings, second, "Come on Tuesday")
    waiting = _inbox(alice, "?waiting=1")
    assert "CLAIMTWO" in waiting and "CLAIMONE" not in waiting
    assert "CLAIMONE" in _inbox(alice, "?status=new") and "CLAIMONE" not in _inbox(alice, "?status=closed")
    offered = re.findall(r'<option value="([a-z_]*)"', re.search(r'<select id="f-status".*?</select>', waiting, re.S).group(0))  # type: ignore[union-attr]
    assert offered == ["", *request_rows.STATUS_VALUES]  # every stored status can be filtered on, nothing else
    # A value no form offers is refused, not guessed at.
    assert alice.get("/coordinator/?status=gone").status_code == 400
    assert alice.get("/coordinator/?who=carol").status_code == 400


def test_only_members_handle_requests(app: Flask, settings: Settings, store: Store) -> None:
    add_coordinator(settings, "mallory", BOB)  # an account the operator added; never made a member
    alice, mallory = app.test_client(), app.test_client()
    Auth(alice).login()
    Auth(mallory).login("mallory", BOB)
    request_id = _new_request(app.test_client(), store)
    page = alice.get(f"/coordinator/request/{request_id}").get_data(as_text=True)
    assert "mallory" not in page  # not offered as a handler
    handed = alice.post(f"/coordinator/request/{request_id}/handler",
                        data={"csrf_token": hidden(page, "csrf_token"), "handler": "2"})
    assert handed.status_code == 400 and "Not a valid choice" in handed.get_data(as_text=True)
    # Mallory cannot read it, so cannot claim it either.
    token = hidden(mallory.get("/coordinator/").get_data(as_text=True), "csrf_token")
    claimed = mallory.post(f"/coordinator/request/{request_id}/handler", data={"csrf_token": token, "handler": ""})
    assert claimed.status_code == 403
    assert request_rows.by_id(store, bytes.fromhex(request_id)).handler is None  # type: ignore[union-attr]


def test_the_inbox_marks_what_is_new_since_the_last_visit(app: Flask, store: Store, client: FlaskClient) -> None:
    Auth(client).login()
    requester = app.test_client()
    _new_request(requester, store, "SEENBEFORE")
    first = _inbox(client)
    assert "1 request came in since your last visit" in first and first.count('class="new"') == 1
    _new_request(requester, store, "AFTERVISIT")
    again = _inbox(client)
    assert "1 request came in since your last visit" in again
    row = re.search(r"<tr class=\"fresh\">.*?</tr>", again, re.S)
    assert row and "AFTERVISIT" in row.group(0) and "SEENBEFORE" not in row.group(0)
    assert "since your last visit" not in _inbox(client)


def test_each_coordinator_reads_the_pages_in_their_own_language(app: Flask, settings: Settings) -> None:
    add_coordinator(settings, "bob", BOB)
    alice, bob = app.test_client(), app.test_client()
    # Picked on the login page by a link, kept through the login form, remembered for the account.
    login = alice.get("/coordinator/login?lang=es").get_data(as_text=True)
    assert '<html lang="es"' in login and 'action="/coordinator/login?lang=es"' in login
    alice.post("/coordinator/login?lang=es", data={"csrf_token": hidden(login, "csrf_token"), "handle": "alice",
                                                   "passphrase": PASSPHRASE})
    assert '<html lang="es"' in _inbox(alice)
    Auth(bob).login("bob", BOB)
    page = _inbox(bob)
    assert '<html lang="en"' in page  # Bob's own choice, not Alice's
    chosen = bob.post("/coordinator/language", data={"csrf_token": hidden(page, "csrf_token"), "language": "ar",
                                                     "next": "/coordinator/decisions/"})
    assert chosen.status_code == 303 and chosen.headers["Location"] == "/coordinator/decisions/"
    assert '<html lang="ar" dir="rtl"' in bob.get("/coordinator/decisions/").get_data(as_text=True)
    # Remembered: a new session on another device opens in Arabic too.
    again = app.test_client()
    Auth(again).login("bob", BOB)
    assert '<html lang="ar" dir="rtl"' in _inbox(again)
    # Never a way off the site, never a language that is not shipped.
    token = hidden(_inbox(again), "csrf_token")
    away = again.post("/coordinator/language", data={"csrf_token": token, "language": "fr", "next": "https://x.example/"})
    assert away.headers["Location"] == "/coordinator/"
    assert again.post("/coordinator/language", data={"csrf_token": token, "language": "xx"}).status_code == 400


def test_the_allocation_form_says_what_each_offer_is_and_puts_the_fitting_ones_first(
        settings: Settings, store: Store, client: FlaskClient) -> None:
    for category, area, what in [("food", "south", "OFFA soup pot"), ("medicine", "north", "OFFB paracetamol"),
                                 ("food", "north", "OFFC 10 kg rice"), ("rent", "east", "OFFD bus fare")]:
        offers.submit_offer(store, settings, offers.OfferDetails("goods", category, area, what, ""), secrets.token_hex(8))
    offers.record_stock(store, settings, "goods", "food", 5, "STOCKMARK rice bags")
    offers.record_stock(store, settings, "goods", "food", 7, "")
    offers.record_stock(store, settings, "goods", "medicine", 3, "")
    request_id = _new_request(client, store)  # food, north
    Auth(client).login()
    # Offers and stock lists what came in, opened for the reader.
    stock_page = client.get("/coordinator/stock/").get_data(as_text=True)
    assert "STOCKMARK rice bags" in stock_page and stock_page.count('<td data-label="Amount">') == 3
    page = client.get(f"/coordinator/request/{request_id}").get_data(as_text=True)
    select = re.search(r'<select[^>]*name="source".*?</select>', page, re.S)
    assert select
    labels = re.findall(r"<option[^>]*>([^<]*)</option>", select.group(0))
    assert labels[:2] == ["Money (not yet allocated: 0)", "Stock (received: Food 12, Medicine 3)"]
    # Same category and area, then same category, then the rest (newest first): each in words.
    assert labels[2] == "Fits this request: Offer 3: OFFC 10 kg rice (Goods (food, clothes, things); Food, North)"
    assert [label.split("OFF")[1][0] for label in labels[2:]] == ["C", "A", "D", "B"]


def test_a_receipt_is_never_lost_by_a_click(client: FlaskClient) -> None:
    page = client.post("/", data=request_form(client)).get_data(as_text=True)
    links = re.findall(r"<a [^>]*>", page.replace('<a class="skip" href="#main">', ""))
    assert links and all('target="_blank" rel="noopener"' in a for a in links), links
    assert "Every link on this page opens a new tab" in page
    assert 'target="_blank"' not in client.get("/").get_data(as_text=True)  # only where something is shown once


def test_an_offer_codename_typed_into_check_a_request_is_pointed_to_its_page(
        settings: Settings, store: Store, client: FlaskClient) -> None:
    codename = offers.submit_offer(store, settings, offers.OfferDetails("time", "food", "north", "Saturdays", ""),
                                   secrets.token_hex(8))
    form = client.get("/status").get_data(as_text=True)
    assert 'href="/offer/status"' in form and 'href="/offer/status"' in client.get("/offer").get_data(as_text=True)
    answer = client.post("/status", data={"csrf_token": hidden(form, "csrf_token"), "codename": codename})
    text = answer.get_data(as_text=True)
    assert answer.status_code == 404 and "This codename is for an offer of help, not a request." in text
    wrong = client.post("/status", data={"csrf_token": hidden(form, "csrf_token"),
                                         "codename": "bako mize tula bako mize tula bako"})
    assert "We could not find a request with that codename." in wrong.get_data(as_text=True)


def test_a_request_taken_by_phone_is_sealed_like_any_and_its_slip_gives_the_codename(
        app: Flask, store: Store, client: FlaskClient) -> None:
    Auth(client).login()
    page = client.get("/coordinator/intake").get_data(as_text=True)
    data = {"csrf_token": hidden(page, "csrf_token"), "form_nonce": hidden(page, "form_nonce"), "category": "food",
            "area": "east", "need": "PHONEMARK two bags of shopping", "contact": "", "urgency": "today",
            "channel": "phone", "language": "ar"}
    missing = client.post("/coordinator/intake", data={**data, "need": ""})
    assert missing.status_code == 400 and "Tell us what you need." in missing.get_data(as_text=True)
    slip = client.post("/coordinator/intake", data=data)
    assert slip.status_code == 201
    text = slip.get_data(as_text=True)
    codename = re.search(r'<p class="codename" lang="zxx">([^<]+)</p>', text).group(1)  # type: ignore[union-attr]
    links = re.findall(r"<a [^>]*>", text.replace('<a class="skip" href="#main">', ""))
    assert all('target="_blank"' in a for a in links), links  # shown once: no click loses it
    forms = re.findall(r"<form [^>]*>", text)
    assert forms and all('target="_blank"' in f for f in forms), forms  # log out and language buttons too
    # The slip in the requester's language (Arabic, right to left); the page around it in the coordinator's.
    assert '<div lang="ar" dir="rtl">' in text and '<html lang="en"' in text
    # The same request as one sent from the public form: in the inbox, and its codename checks it.
    assert "PHONEMARK" in _inbox(client)
    row = request_rows.page(store, 0, 1)[0]
    request_id = row.id.hex()
    assert "Taken by phone" in client.get(f"/coordinator/request/{request_id}").get_data(as_text=True)
    # Nothing says who typed it: no handler set, no account inside the sealed request, nothing in the log.
    opened = requests.open_row(row, account_keys(store))
    assert row.handler is None and opened.details is not None and opened.details.channel == "phone"
    assert b"alice" not in opened.details.to_bytes() and log_rows.records(store)[1:] == []
    requester = app.test_client()
    form = requester.get("/status").get_data(as_text=True)
    found = requester.post("/status", data={"csrf_token": hidden(form, "csrf_token"), "codename": codename})
    assert found.status_code == 200 and "Received, not yet read" in found.get_data(as_text=True)
    # Sent twice (a double click): one request.
    assert client.post("/coordinator/intake", data=data).status_code in (200, 409)
    assert request_rows.count(store) == 1
    # Only a coordinator takes requests this way.
    assert app.test_client().get("/coordinator/intake").status_code == 302


def test_the_paper_form_prints_in_each_language(client: FlaskClient) -> None:
    english = client.get("/paper").get_data(as_text=True)
    assert "Ask for help on paper" in english and "☐ Food" in english and "☐ Today or tomorrow" in english
    spanish = client.get("/es/paper").get_data(as_text=True)
    assert '<html lang="es"' in spanish and "☐ Comida" in spanish
    assert "<form" not in english.split("<main")[1]  # nothing to send: it is for paper


def test_a_link_on_a_receipt_asks_first_whether_the_codename_is_written_down(client: FlaskClient) -> None:
    page = client.post("/es/", data=request_form(client)).get_data(as_text=True)
    assert 'href="/es/leave?to=/offer/status"' in page and 'href="/es/leave?to=/status"' in page
    asked = client.get("/es/leave?to=/status")
    assert asked.status_code == 200 and 'href="/es/status"' in asked.get_data(as_text=True)
    assert client.get("/leave?to=//evil.example/").status_code == 400
    assert client.get("/leave?to=https://evil.example/").status_code == 400
    assert 'href="/offer/status"' in client.get("/").get_data(as_text=True)  # in the navigation of every page


def test_the_digest_says_there_is_work_never_what_or_where(settings: Settings, store: Store,
                                                           client: FlaskClient) -> None:
    from helpers.cli import run_aidnet

    from aidnet.records.digest import bucket
    assert [bucket(n) for n in (0, 1, 5, 6, 20, 21, 100, 101)] == [
        "0", "1-5", "1-5", "6-20", "6-20", "21-100", "21-100", "more than 100"]
    for i in range(6):
        _new_request(client, store, f"DIGESTMARK {i}")
    Auth(client).login()
    first = request_rows.page(store, 0, 1)[0].id.hex()
    page = client.get(f"/coordinator/request/{first}").get_data(as_text=True)
    client.post(f"/coordinator/request/{first}/handler", data={"csrf_token": hidden(page, "csrf_token"), "handler": "1"})
    done = run_aidnet("digest", "--instance", str(settings.instance))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ("aidnet: new requests: 6-20; nobody handling yet: 1-5; "
                           "decisions waiting for signatures: 0\n")
    for word in ("DIGESTMARK", "food", "Food", "north", "North", "7", "6"):
        assert word not in done.stdout.replace("6-20", "")


def test_a_stock_allocation_says_how_many(store: Store, client: FlaskClient) -> None:
    request_id = _new_request(client, store)
    Auth(client).login()
    page = client.get(f"/coordinator/request/{request_id}").get_data(as_text=True)
    sent = client.post(f"/coordinator/decisions/request/{request_id}/allocate",
                       data={"csrf_token": hidden(page, "csrf_token"), "source": "stock", "amount": "4", "note": ""})
    assert sent.status_code == 303
    seq = request_rows.by_id(store, bytes.fromhex(request_id)).seq  # type: ignore[union-attr]
    assert f"request {seq} gets 4 from stock" in client.get("/coordinator/decisions/").get_data(as_text=True)
