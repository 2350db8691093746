"""The requesters' verdict and their decline: asked after a hand-over, sealed, counted once, erased with the request,
published with noise; declining help before the hand-over frees its offer or money."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from helpers.exports import WEEK, plant, release, set_export
from helpers.group import Group, details
from helpers.instance import make_instance
from helpers.pagecheck import page_problems
from helpers.pages import Auth, codename_from, hidden, request_form

from aidnet import dates
from aidnet.config import Settings
from aidnet.decisions import declines, effects, proposals, receipts
from aidnet.exports import releases
from aidnet.records import conversation, offers, requests, retention, verdicts
from aidnet.store import Store, counters
from aidnet.store import decision_log as log_rows
from aidnet.store import requests as request_rows
from aidnet.store import verdicts as verdict_rows
from aidnet.web.app import create_app

ASKED = "How did it go?"


def submit(client: FlaskClient) -> str:
    response = client.post("/", data=request_form(client, need="nappies for a baby"))
    assert response.status_code == 201
    return codename_from(response.get_data(as_text=True))


def status_page(client: FlaskClient, codename: str) -> str:
    page = client.get("/status").get_data(as_text=True)
    response = client.post("/status", data={"csrf_token": hidden(page, "csrf_token"), "codename": codename})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def newest_request(client: FlaskClient) -> str:
    inbox = client.get("/coordinator/").get_data(as_text=True)
    return re.search(r"/coordinator/request/([0-9a-f]{32})", inbox).group(1)


def allocate_stock(client: FlaskClient, request_id: str) -> str:
    """A coordinator (alice, quorum 1) allocates stock on the request page; the allocation's id."""
    page = client.get(f"/coordinator/request/{request_id}").get_data(as_text=True)
    sent = client.post(f"/coordinator/decisions/request/{request_id}/allocate",
                       data={"csrf_token": hidden(page, "csrf_token"), "source": "stock", "amount": "", "note": ""})
    assert sent.status_code == 303 and sent.headers["Location"].endswith("saved=final")
    page = client.get(f"/coordinator/request/{request_id}").get_data(as_text=True)
    return re.search(r'name="proposal" value="([0-9a-f]{32})"', page).group(1)


def hand_over(client: FlaskClient, request_id: str) -> None:
    allocation = allocate_stock(client, request_id)
    page = client.get(f"/coordinator/request/{request_id}").get_data(as_text=True)
    sent = client.post(f"/coordinator/decisions/request/{request_id}/handover",
                       data={"csrf_token": hidden(page, "csrf_token"), "proposal": allocation})
    assert sent.status_code == 303


def verdict_data(page: str, codename: str, **values: str) -> dict[str, str]:
    return {"csrf_token": hidden(page, "csrf_token"), "codename": codename, "form_nonce": hidden(page, "form_nonce"),
            **values}


def verdict_counts(store: Store) -> dict[tuple[str, str], int]:
    return {(event, answer): n for _w, answer, _a, event, n in counters.counters_for(store, (dates.this_week(),))
            if event.startswith("verdict_")}


def test_the_status_page_asks_for_the_verdict_only_after_the_hand_over(client: FlaskClient, auth: Auth) -> None:
    codename = submit(client)
    page = status_page(client, codename)
    assert ASKED not in page and "need this any more" not in page
    auth.login()
    request_id = newest_request(client)
    allocate_stock(client, request_id)
    page = status_page(client, codename)
    assert ASKED not in page and "need this any more" in page  # agreed, not yet handed over
    page = client.get(f"/coordinator/request/{request_id}").get_data(as_text=True)
    allocation = re.search(r'name="proposal" value="([0-9a-f]{32})"', page).group(1)
    assert client.post(f"/coordinator/decisions/request/{request_id}/handover",
                       data={"csrf_token": hidden(page, "csrf_token"), "proposal": allocation}).status_code == 303
    page = status_page(client, codename)
    assert ASKED in page and page_problems(page) == []
    # JS-free, accessible: two fieldsets with legends, radios with labels, an optional comment with a label.
    assert page.count("<legend>") == 2 and 'for="received-2"' in page and 'for="comment"' in page
    assert "need this any more" not in page  # handed over: nothing left to decline


def test_a_verdict_is_sealed_counted_once_and_a_second_is_refused(client: FlaskClient, auth: Auth, store: Store,
                                                                  settings: Settings) -> None:
    codename = submit(client)
    auth.login()
    hand_over(client, newest_request(client))
    page = status_page(client, codename)
    sent = client.post("/status/verdict", data=verdict_data(page, codename, received="partly", needed="no",
                                                            comment="Only half the nappies, wrong size"))
    body = sent.get_data(as_text=True)
    assert sent.status_code == 200 and "Thank you for telling us how it went." in body and page_problems(body) == []
    assert ASKED not in body and "Thank you: you told us how it went." in body
    assert verdict_counts(store) == {("verdict_received", "partly"): 1, ("verdict_needed", "no"): 1}
    # Nothing of it in clear: the row holds the request, a random id and the envelope.
    row = store.conn.execute("SELECT * FROM verdicts").fetchall()
    assert len(row) == 1 and b"nappies" not in b"".join(bytes(v) for v in row[0])
    # Again, from the page as it was (another tab): refused, said plainly, nothing counted twice.
    again = client.post("/status/verdict", data=verdict_data(page, codename, received="yes", needed="yes"))
    assert again.status_code == 409
    assert "You already told us how it went, and we keep that first answer." in again.get_data(as_text=True)
    assert verdict_counts(store) == {("verdict_received", "partly"): 1, ("verdict_needed", "no"): 1}
    with pytest.raises(verdicts.VerdictGiven):
        verdicts.give(store, settings, codename, verdicts.Verdict("yes", "yes"), secrets.token_hex(16))


def test_verdict_errors_are_tied_to_their_fields_and_keep_the_comment(client: FlaskClient, auth: Auth,
                                                                      store: Store) -> None:
    codename = submit(client)
    auth.login()
    hand_over(client, newest_request(client))
    page = status_page(client, codename)
    sent = client.post("/status/verdict", data=verdict_data(page, codename, comment="KEEP this text"))
    body = sent.get_data(as_text=True)
    assert sent.status_code == 400 and page_problems(body) == []
    assert '<a href="#received">Say whether you received the help.</a>' in body
    assert '<a href="#needed">Say whether it was what you needed.</a>' in body
    assert 'id="received-error"' in body and "KEEP this text</textarea>" in body
    assert body.count('aria-describedby="needed-error"') == 3  # each answer of the question points at its error
    assert verdict_counts(store) == {} and store.conn.execute("SELECT count(*) FROM verdicts").fetchone()[0] == 0
    # Before a hand-over, and with a codename that opens nothing, nothing is kept either.
    other = submit(client)
    early = client.post("/status/verdict", data=verdict_data(page, other, received="no", needed="no"))
    assert early.status_code == 409 and "once the help has been handed over" in early.get_data(as_text=True)
    wrong = client.post("/status/verdict", data=verdict_data(page, "bako mize tula bako mize tula bako",
                                                             received="no", needed="no"))
    assert wrong.status_code == 404 and verdict_counts(store) == {}


def test_coordinators_read_the_comment_and_the_share_of_no_per_month(client: FlaskClient, auth: Auth) -> None:
    auth.login()
    for received, comment in (("no", "Nothing came on Friday"), ("yes", ""), ("yes", "")):
        codename = submit(client)
        request_id = newest_request(client)
        hand_over(client, request_id)
        page = status_page(client, codename)
        assert client.post("/status/verdict", data=verdict_data(page, codename, received=received, needed="yes",
                                                                comment=comment)).status_code == 200
        if comment:
            shown = client.get(f"/coordinator/request/{request_id}").get_data(as_text=True)
            assert "s verdict</h2>" in shown and "Nothing came on Friday" in shown
            assert page_problems(shown) == []
    page = client.get("/coordinator/verdicts").get_data(as_text=True)
    month = verdicts.month_of(dates.this_week())
    assert re.search(rf"<th scope=\"row\"[^>]*>{month}</th><td[^>]*>3</td><td[^>]*>33% \(1 of 3\)</td>"
                     r"<td[^>]*>0% \(0 of 3\)</td>", page), page
    assert page_problems(page) == [] and "/coordinator/verdicts" in client.get("/coordinator/").get_data(as_text=True)


def _fulfilled(g: Group) -> tuple[str, str]:
    """A request handed over in a group of one keyholder (ana): (codename, request id)."""
    codename = requests.submit_request(g.store, g.settings, details(), secrets.token_hex(16))
    request = request_rows.page(g.store, 0, 1)[0].id.hex()
    allocation = g.decide("allocation", {"request": request, "source": {"kind": "stock", "ref": None}}, ["ana"])
    g.decide("distribution", {"request": request, "allocation": allocation}, ["ana"])
    return codename, request


def test_erasing_the_request_or_its_retention_ending_removes_the_verdict(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana"], quorum=1)
    withdrawn, _ = _fulfilled(g)
    expiring, request = _fulfilled(g)
    for codename in (withdrawn, expiring):
        assert verdicts.give(g.store, g.settings, codename, verdicts.Verdict("yes", "yes", "thanks"),
                             secrets.token_hex(16))
    assert verdicts.for_coordinator(g.store, g.keys["ana"], request).verdict.comment == "thanks"
    assert conversation.withdraw(g.store, g.settings, withdrawn)
    assert g.store.conn.execute("SELECT count(*) FROM verdicts").fetchone()[0] == 1
    row = request_rows.by_id(g.store, bytes.fromhex(request))
    retention.purge(g.store, g.settings, today=row.expires_day + 1)
    assert request_rows.by_id(g.store, bytes.fromhex(request)) is None
    assert g.store.conn.execute("SELECT count(*) FROM verdicts").fetchone()[0] == 0
    assert verdicts.for_coordinator(g.store, g.keys["ana"], request) is None
    # The counts stay: aggregates, not rows about a person.
    assert verdict_counts(g.store)[("verdict_received", "yes")] == 2
    g.close()


def _money(request: str, units: int) -> dict[str, object]:
    return {"request": request, "source": {"kind": "money", "ref": None, "amount": units}}


def test_declining_before_the_hand_over_frees_the_money_and_the_offer(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana"], quorum=1)
    assert receipts.receive(g.store, g.settings, g.keys["ana"], "money", "food", 20, "")  # 20 received, signed
    codename = requests.submit_request(g.store, g.settings, details(), secrets.token_hex(16))
    request = request_rows.page(g.store, 0, 1)[0].id.hex()
    paid = g.decide("allocation", _money(request, 20), ["ana"])
    offer_code = offers.submit_offer(g.store, g.settings, offers.OfferDetails("goods", "food", "north", "rice", ""),
                                     secrets.token_hex(16))
    offer = offers.open_offers(g.store, g.keys["ana"])[0].id
    given = g.decide("allocation", {"request": request, "source": {"kind": "offer", "ref": offer}}, ["ana"])
    assert effects.balance_cents(g.store) == 0 and offers.offer_status(g.store, g.settings, offer_code) == "allocated"
    other = requests.submit_request(g.store, g.settings, details("a second family"), secrets.token_hex(16))
    other_request = request_rows.page(g.store, 0, 1)[0].id.hex()
    with pytest.raises(proposals.DecisionRefused, match="not enough money"):
        g.propose("allocation", _money(other_request, 20), "ana")
    assert declines.can_decline(g.store, g.settings, codename)
    assert declines.decline(g.store, g.settings, codename)
    assert effects.balance_cents(g.store) == 2000 and offers.offer_status(g.store, g.settings, offer_code) == "open"
    assert request_rows.by_id(g.store, bytes.fromhex(request)).status == "closed"
    assert verdict_rows.declined(g.store) == {paid, given}
    # Both are free for someone else; the declined ones can never be handed over.
    assert g.propose("allocation", _money(other_request, 20), "ana")[1]
    assert g.propose("allocation", {"request": other_request, "source": {"kind": "offer", "ref": offer}}, "ana")[1]
    with pytest.raises(proposals.DecisionRefused, match="declined"):
        g.propose("distribution", {"request": request, "allocation": paid}, "ana")
    with pytest.raises(declines.NothingToDecline):
        declines.decline(g.store, g.settings, codename)
    assert not declines.decline(g.store, g.settings, "bako mize tula bako mize tula bako")
    assert declines.can_decline(g.store, g.settings, other)
    g.close()


def test_a_declined_payout_still_counts_towards_the_requests_clip(tmp_path: Path) -> None:
    """Declined money leaves the balance, not the clip: the request's published amount stays within money_clip."""
    g = Group(tmp_path, ["ana"], quorum=1)
    assert receipts.receive(g.store, g.settings, g.keys["ana"], "money", "food", 2000, "")
    codename = requests.submit_request(g.store, g.settings, details(), secrets.token_hex(16))
    request = request_rows.page(g.store, 0, 1)[0].id.hex()
    clip = g.settings.policy.money_clip
    g.decide("allocation", _money(request, clip // 100), ["ana"])
    assert declines.decline(g.store, g.settings, codename)
    assert effects.balance_cents(g.store) == 200_000
    requests.change_status(g.store, g.settings, g.keys["ana"], request, "in_progress")  # asked again, by hand
    g.decide("allocation", _money(request, 300), ["ana"])
    out = [(amount, n) for _w, _c, d, amount, n in counters.money_for(g.store, (dates.this_week(),)) if d == "out"]
    assert out == [(clip, 1)] and effects.balance_cents(g.store) == 200_000 - 30_000
    g.close()


def test_declining_closes_an_allocation_still_waiting_for_signatures(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana", "ben"], quorum=2)
    codename = requests.submit_request(g.store, g.settings, details(), secrets.token_hex(16))
    request = request_rows.page(g.store, 0, 1)[0].id.hex()
    pending, final = g.propose("allocation", {"request": request, "source": {"kind": "stock", "ref": None}}, "ana")
    assert not final and declines.decline(g.store, g.settings, codename)
    assert log_rows.proposal(g.store, pending["id"]).state == "declined"
    assert not g.sign(pending["id"], "ben")  # closed: it can never become final
    assert pending["id"] not in {r["proposal"]["id"] for r in g.records()}
    g.close()


def test_declining_on_the_status_page(client: FlaskClient, auth: Auth, store: Store) -> None:
    codename = submit(client)
    auth.login()
    request_id = newest_request(client)
    allocate_stock(client, request_id)
    page = status_page(client, codename)
    unticked = client.post("/status/decline", data={"csrf_token": hidden(page, "csrf_token"), "codename": codename})
    body = unticked.get_data(as_text=True)
    assert unticked.status_code == 400 and page_problems(body) == []
    assert '<a href="#sure">Tick the box to confirm that you no longer need this help.</a>' in body
    assert request_rows.by_id(store, bytes.fromhex(request_id)).status == "allocated"
    done = client.post("/status/decline", data={"csrf_token": hidden(page, "csrf_token"), "codename": codename,
                                                "sure": "y"})
    body = done.get_data(as_text=True)
    assert done.status_code == 200 and "the help agreed for you can now go to someone else" in body
    assert "need this any more</button>" not in body and page_problems(body) == []
    assert request_rows.by_id(store, bytes.fromhex(request_id)).status == "closed"
    shown = client.get(f"/coordinator/request/{request_id}").get_data(as_text=True)
    assert "Declined by the requester before the hand-over" in shown and "Propose: handed over" not in shown
    again = client.post("/status/decline", data={"csrf_token": hidden(page, "csrf_token"), "codename": codename,
                                                 "sure": "y"})
    assert again.status_code == 409 and "nothing to decline" in again.get_data(as_text=True)


def test_verdicts_are_published_with_suppression_or_with_noise_from_their_share(tmp_path: Path) -> None:
    plain = set_export(make_instance(tmp_path / "plain"), noise="false")
    counts = {("yes", "all", "verdict_received"): 14, ("no", "all", "verdict_received"): 3,
              ("yes", "all", "verdict_needed"): 12, ("partly", "all", "verdict_needed"): 5}
    plant(plain, WEEK, counts)
    data = json.loads(release(plain)[0].manifest)
    tables = {t["name"]: {(r, c): v for r, c, v in t["values"]} for t in data["tables"]}
    received = tables["verdict_received"]
    assert received[("partly", "all")] == 0 and received[("no", "all")] is None  # 3 < k: withheld
    assert None in (received[("*", "all")], received[("yes", "all")])  # and it cannot be worked out by difference
    assert tables["verdict_needed"][("partly", "all")] is None  # 5 < k
    noisy = make_instance(tmp_path / "noisy")
    plant(noisy, WEEK, counts)
    data = json.loads(release(noisy)[0].manifest)
    table = next(t for t in data["tables"] if t["name"] == "verdict_needed")
    # Only the answers are drawn, each with its own noise: no total, no cells.
    assert [(r, c) for r, c, _v in table["values"]] == [("yes", "*"), ("partly", "*"), ("no", "*")]
    assert table["noise_scale"] == {"rows": "64"} and table["margin"] == {"rows": 147}
    # A request's verdict is one more event it costs ε on; every share together is still the ε charged.
    assert sum(releases.SPLIT["verdict_received"].values()) + sum(releases.SPLIT["verdict_needed"].values()) > 0
    assert sum(sum(levels.values()) for levels in releases.SPLIT.values()) == 1
    assert data["cumulative_epsilon"] == {WEEK: data["epsilon"]}
    # The page shows each answer with its margin, and no made-up total for the verdict tables.
    html = create_app(noisy).test_client().get("/transparency/").get_data(as_text=True)
    assert "verdict: did they receive the help?" in html and "verdict: was it what they needed?" in html
    line = html[html.index("was it what they needed?"):]
    line = line[:line.index("</li>")]  # one line: each answer with its margin, no made-up total
    assert line.count(",\u00a0±\u00a0147") == 3 and "Partly:" in line and "Total" not in line
    assert page_problems(html) == []
