"""The public record on the transparency page: decisions by month, keyholders and quorum, log head and
genesis, and impact updates that a quorum signed (and nothing the server wrote by itself)."""

from __future__ import annotations

import copy
import secrets
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers.group import Group
from helpers.instance import account_keys, make_instance
from helpers.pagecheck import page_problems
from helpers.pages import Auth, hidden

import crypto
from aidnet import dates
from aidnet.config import ConfigError, Settings
from aidnet.decisions import membership, proposals
from aidnet.decisions.proposals import DecisionRefused
from aidnet.decisions.public_record import monthly_counts
from aidnet.records import coordinators
from aidnet.sealing import readers
from aidnet.store import Store
from aidnet.store import accounts as account_rows
from aidnet.store import decision_log as log_rows
from aidnet.web.app import create_app
from crypto.log import LogError, sign_proposal, verify
from crypto.logschema import IMPACT_TEXT_MAX, SchemaError, check_body

BOB = "bob's own long passphrase"
EN, ES = "We delivered 40 food parcels this month.", "Este mes entregamos 40 paquetes de comida."


def _two_keyholders(settings: Settings, store: Store) -> None:
    """alice (who founded the log, 1 of 1) makes bob a member, then the quorum 2 of 2."""
    coordinators.add_coordinator(store, settings, "bob", BOB)
    row = account_rows.by_handle(store, "bob")
    assert row is not None
    alice = account_keys(store)
    assert proposals.propose(store, settings, alice, proposals.new_proposal(
        "add_member", {"member": membership.member_from_account(row)}, alice))
    assert proposals.propose(store, settings, alice, proposals.new_proposal("set_quorum", {"quorum": 2}, alice))


def _impact_form(client: FlaskClient, **texts: str) -> dict[str, str]:
    page = client.get("/coordinator/decisions/").get_data(as_text=True)
    return {"csrf_token": hidden(page, "csrf_token"), **{f"text_{code}": t for code, t in texts.items()}}


def test_an_impact_update_signed_to_quorum_is_published_in_each_language_given(
        app: Flask, settings: Settings, store: Store) -> None:
    _two_keyholders(settings, store)
    alice, bob, public = app.test_client(), app.test_client(), app.test_client()
    Auth(alice).login()
    proposed = alice.post("/coordinator/decisions/impact", data=_impact_form(alice, en=EN, es=ES + "\r\n"))
    assert proposed.status_code == 303 and "saved=pending" in proposed.headers["Location"]
    # Under quorum: waiting, and on no public page.
    (waiting,) = log_rows.proposals(store)
    assert waiting.proposal["type"] == "impact_update" and waiting.proposal["body"]["texts"] == {"en": EN, "es": ES}
    for path in ("/transparency/", "/transparency/updates", "/es/transparency/updates"):
        html = public.get(path).get_data(as_text=True)
        assert EN not in html and ES not in html
    # bob reads on the Decisions page exactly what will be published, and signs it.
    Auth(bob).login("bob", BOB)
    page = bob.get("/coordinator/decisions/").get_data(as_text=True)
    assert "Impact update" in page and EN in page and ES in page and "Proposed by alice" in page
    signed = bob.post("/coordinator/decisions/sign", data={"csrf_token": hidden(page, "csrf_token"),
                                                          "proposal": waiting.id})
    assert signed.status_code == 303 and "saved=final" in signed.headers["Location"]
    assert readers.current(store).decisions[waiting.id] == "impact_update"
    # Now public, in each language given; a language not given reads the English one, marked as English.
    for prefix, text, code in (("", EN, "en"), ("/es", ES, "es"), ("/fr", EN, "en"), ("/ar", EN, "en")):
        for path in ("/transparency/", "/transparency/updates"):
            html = public.get(prefix + path).get_data(as_text=True)
            assert f'lang="{code}" dir="auto">{text}</p>' in html, (prefix, path)
            assert page_problems(html) == []
    assert ES not in public.get("/transparency/updates").get_data(as_text=True)
    # The record says how many keyholders and what quorum, and the head and genesis to check a log against.
    state = readers.current(store)
    html = public.get("/transparency/").get_data(as_text=True)
    assert "The group has 2 keyholders; 2 of them must sign every decision." in html
    assert f"aidnet log verify FILE --genesis {state.genesis} --head {state.head}" in html


def test_an_impact_update_needs_one_text_and_keeps_what_was_typed(client: FlaskClient, store: Store) -> None:
    Auth(client).login()
    empty = client.post("/coordinator/decisions/impact", data=_impact_form(client, en="  ", fr=""))
    assert empty.status_code == 400 and "Write the update in at least one language." in empty.get_data(as_text=True)
    long = "x" * (IMPACT_TEXT_MAX + 1)
    refused = client.post("/coordinator/decisions/impact", data=_impact_form(client, en=long, es=ES))
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400 and long in html and ES in html
    assert log_rows.proposals(store) == [] and "impact_update" not in readers.current(store).decisions.values()


def test_the_schema_bounds_an_impact_update(tmp_path: Path) -> None:
    """Public by nature, so in clear; but only texts by language code, bounded, without control characters."""
    check_body("impact_update", {"texts": {"en": "a" * IMPACT_TEXT_MAX, "ar": "نص"}})
    for body in ({}, {"texts": {}}, {"texts": {"en": ""}}, {"texts": {"en": "  "}},
                 {"texts": {"en": "a" * (IMPACT_TEXT_MAX + 1)}}, {"texts": {"EN": "hi"}}, {"texts": {"english": "hi"}},
                 {"texts": {"en": "a\x00b"}}, {"texts": {"en": "a\tb"}}, {"texts": {"en": 5}},
                 {"texts": {c: "hi" for c in ("aa", "bb", "cc", "dd", "ee", "ff", "gg", "hh", "ii")}},
                 {"texts": {"en": "hi"}, "note": "0" * 64}, {"texts": ["en", "hi"]}):
        with pytest.raises(SchemaError):
            check_body("impact_update", body)


def test_an_impact_update_short_of_its_quorum_is_not_published(tmp_path: Path) -> None:
    g = Group(tmp_path, ["ana", "ben", "cai"], quorum=2)
    proposal, final = g.propose("impact_update", {"texts": {"en": EN}}, "ana")
    assert not final and log_rows.proposal(g.store, proposal["id"]) is not None
    client = create_app(g.settings).test_client()
    assert EN not in client.get("/transparency/updates").get_data(as_text=True)
    assert g.sign(proposal["id"], "ben")  # the second signature makes it final
    assert EN in client.get("/transparency/updates").get_data(as_text=True)
    g.close()


def test_the_server_cannot_forge_an_impact_update(tmp_path: Path) -> None:
    """A database writer without keyholder keys: a row in a member's name, a record appended with no or
    foreign signatures, or a signed update whose words it changed. None verifies, none is published."""
    g = Group(tmp_path, ["ana", "ben"], quorum=2)
    g.decide("impact_update", {"texts": {"en": EN}}, ["ana", "ben"])
    app = create_app(g.settings)
    public = app.test_client()
    # 1. A proposal row in ana's name, without her signature: shown as tampered, and it cannot be signed.
    row = proposals.new_proposal("impact_update", {"texts": {"en": "Forged by the server"}}, g.keys["ana"])
    with g.store.write() as tx:
        log_rows.insert_proposal(tx, row, [])
    with pytest.raises(DecisionRefused, match="cannot be signed"):
        g.sign(row["id"], "ben")
    # 2. A record appended straight to the log: no signatures, or two made with keys that are not members'.
    state = readers.current(g.store)
    strangers = [crypto.generate_keypair(), crypto.generate_keypair()]
    forged = {"id": secrets.token_hex(16), "type": "impact_update", "body": {"texts": {"en": "Forged record"}},
              "day": dates.today(), "by": g.keys["ana"].sign_public.hex()}
    records = g.records()
    for signatures in ([], [sign_proposal(forged, k.sign_seed, state, today=dates.today()) for k in strangers]):
        record = crypto.log.new_record(state, forged, signatures, dates.today(), sealer=strangers[0])
        with pytest.raises(LogError):
            verify([*records, record], state.genesis)
    record = crypto.log.new_record(state, forged, [], dates.today())
    with g.store.write() as tx:
        tx.execute("INSERT INTO log (seq, record) VALUES (?, ?)", (record["seq"], crypto.log.canonical(record)))
    assert "Forged record" not in public.get("/transparency/updates").get_data(as_text=True)
    readers.forget()
    with pytest.raises(ConfigError):
        create_app(g.settings)
    with g.store.write() as tx:
        tx.execute("DELETE FROM log WHERE seq = ?", (record["seq"],))
    # 3. The words of a signed update changed in the log: its signatures no longer hold.
    changed = copy.deepcopy(records)
    changed[-1]["proposal"]["body"]["texts"]["en"] = "We delivered 400 food parcels this month."
    with pytest.raises(LogError, match="does not match"):
        verify(changed, state.genesis)
    readers.forget()
    html = create_app(g.settings).test_client().get("/transparency/updates").get_data(as_text=True)
    assert EN in html and "Forged" not in html
    g.close()


def _record(day: str, kind: str) -> dict[str, object]:
    return {"day": dates.parse_day(day), "proposal": {"type": kind}}


def test_decisions_by_month_withhold_small_counts_about_requests_and_wait_for_the_month_to_end() -> None:
    records = [_record("2026-01-05", "genesis")]
    records += [_record("2026-01-10", "allocation")] * 12 + [_record("2026-01-11", "distribution")] * 3
    records += [_record("2026-01-12", "dispute"), _record("2026-01-20", "add_member"),
                _record("2026-01-21", "set_quorum"), _record("2026-01-22", "impact_update")]
    records += [_record("2026-02-02", "allocation")] * 9 + [_record("2026-02-03", "resolution")] * 10
    records += [_record("2026-03-01", "allocation")] * 20  # March has not ended: not shown
    feb, jan = monthly_counts(records, k=10, today=dates.parse_day("2026-03-18") or 0)
    assert jan.month == "2026-01" and jan.counts == {"allocation": 12, "distribution": None, "dispute": None,
                                                     "resolution": 0, "keyholders": 2, "impact_update": 1}
    assert feb.month == "2026-02" and feb.counts == {"allocation": None, "distribution": 0, "dispute": 0,
                                                     "resolution": 10, "keyholders": 0, "impact_update": 0}
    assert len(monthly_counts(records, k=10, today=dates.parse_day("2026-04-01") or 0)) == 3
    # Keyholders' own acts are never withheld, however few.
    assert monthly_counts([_record("2026-01-20", "remove_member")], 10, dates.parse_day("2026-02-01") or 0)[0] \
        .counts["keyholders"] == 1


def test_the_record_shows_nothing_before_the_group_is_founded(tmp_path: Path) -> None:
    html = create_app(make_instance(tmp_path / "instance")).test_client().get("/transparency/").get_data(as_text=True)
    assert "Nothing has been published yet" in html and "Our public record" not in html


def test_only_a_signed_in_coordinator_can_propose_one(client: FlaskClient, store: Store) -> None:
    page = client.get("/coordinator/login").get_data(as_text=True)
    answer = client.post("/coordinator/decisions/impact", data={"csrf_token": hidden(page, "csrf_token"), "text_en": EN})
    assert answer.status_code in (302, 303, 401, 403) and log_rows.proposals(store) == []
