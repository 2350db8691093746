"""A flood must not bury real requests (issue 13, part 4).

A bounded scan once left about 1,650 accepted requests and 220 offers in a
few minutes. Over Tor every sender is 127.0.0.1, so the limits are global: a
budget of public submissions a minute, shared by every worker process; the
group's own question; and, for what gets through, one action that erases
many requests as spam and counts them as such. Each is tried here with a
bounded flood against a real `aidnet serve` on 127.0.0.1 (two workers).
"""

from __future__ import annotations

import hmac
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from helpers.instance import PASSPHRASE, account_keys, add_coordinator, make_instance
from helpers.live import Client, LiveServer, start_server
from helpers.pages import hidden, request_form

from aidnet import dates, policy
from aidnet.config import ConfigError, Settings, load_settings
from aidnet.records import budget
from aidnet.records.requests import NotYours, RequestDetails, inbox_page, mark_spam, submit_request
from aidnet.store import counters, open_store
from aidnet.web.app import create_app

pytestmark = [pytest.mark.server, pytest.mark.serial]

REQUESTS_PER_MINUTE = 12
OFFERS_PER_MINUTE = 4
QUESTION = ('[question]\n'
            'en = { ask = "What is the bakery by the bus station called?", answers = ["Sol", "Panaderia  Sol"] }\n'
            'es = { ask = "¿Cómo se llama la panadería junto a la estación?", answers = ["panadería sol"] }\n')


def configure(settings: Settings, intake: tuple[int, int] | None = None, question: str = "") -> Settings:
    """The instance's config.toml with this budget a minute (requests, offers) and this [question] table."""
    config = settings.instance / "config.toml"
    text = config.read_text()
    if intake is not None:
        text = re.sub(r"requests_per_minute = \d+", f"requests_per_minute = {intake[0]}", text)
        text = re.sub(r"offers_per_minute = \d+", f"offers_per_minute = {intake[1]}", text)
    if question:
        text = text.replace("[argon2]", question + "\n[argon2]")
    config.write_text(text)
    return load_settings(settings.instance)


def early_in_a_minute() -> None:
    """The budget counts in clock minutes: start a flood with 15 s or more left in one (it takes 2-5 s), so it fits."""
    while time.time() % 60 > 45:
        time.sleep(0.5)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Settings, LiveServer]]:
    """A real server (two worker processes) on an instance with a small budget and a question."""
    settings = make_instance(tmp_path / "instance")
    add_coordinator(settings)
    settings = configure(settings, (REQUESTS_PER_MINUTE, OFFERS_PER_MINUTE), QUESTION)
    server = start_server(settings.instance, tmp_path / "logs", workers=2)
    try:
        yield settings, server
    finally:
        server.stop()


def form_of(page: str) -> dict[str, str]:
    return {"csrf_token": hidden(page, "csrf_token"), "form_nonce": hidden(page, "form_nonce")}


def send_request(client: Client, need: str, answer: str = "sol", prefix: str = "") -> tuple[int, dict[str, str], str]:
    page = client.get(prefix + "/").body
    reply = client.post(prefix + "/", {**form_of(page), "category": "food", "area": "north", "need": need,
                                       "contact": "", "urgency": "today", "answer": answer})
    return reply.status, reply.headers, reply.body


def send_offer(client: Client, what: str, answer: str = "sol") -> tuple[int, dict[str, str], str]:
    page = client.get("/offer").body
    reply = client.post("/offer", {**form_of(page), "kind": "goods", "category": "food", "area": "north",
                                   "what": what, "contact": "", "answer": answer})
    return reply.status, reply.headers, reply.body


Sent = tuple[int, dict[str, str], str]


def flood(url: str, send: Callable[[Client, str], Sent], count: int,
          threads: int = 6) -> list[tuple[int, dict[str, str], str, str]]:
    """count submissions from `threads` senders at once, each with its own text: (status, headers, body, text)."""
    results: list[tuple[int, dict[str, str], str, str]] = []
    lock = threading.Lock()
    numbers = iter(range(count))

    def sender(client: Client) -> None:
        while True:
            with lock:
                n = next(numbers, None)
            if n is None:
                return
            text = f"flood item {n:03d} zq"
            status, headers, body = send(client, text)
            with lock:
                results.append((status, headers, body, text))

    workers = [threading.Thread(target=sender, args=(Client(url),)) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    return results


def stored(settings: Settings) -> tuple[int, int, int, dict[str, int], list[tuple[bytes, int]]]:
    """(requests, offers, used forms, counter totals by event, intake counts kept: none, they live in memory)."""
    with open_store(settings) as store:
        requests = store.conn.execute("SELECT count(*) FROM requests").fetchone()[0]
        offers = store.conn.execute("SELECT count(*) FROM offers").fetchone()[0]
        forms = store.conn.execute("SELECT count(*) FROM used_forms").fetchone()[0]
        events: dict[str, int] = {}
        for _w, _c, _a, event, n in counters.all_counters(store):
            events[event] = events.get(event, 0) + n
        kept = [(bytes(k), int(n)) for k, n in store.conn.execute("SELECT key, count FROM throttle")
                if bytes(k).startswith(b"intake:")]
    return requests, offers, forms, events, kept


def test_a_flood_beyond_the_budget_gets_503_with_retry_after_and_leaves_nothing(
        served: tuple[Settings, LiveServer]) -> None:
    settings, server = served
    early_in_a_minute()
    started = int(time.time() // 60)
    results = flood(server.url, send_request, 40)
    in_one_minute = int(time.time() // 60) == started
    accepted = [r for r in results if r[0] == 201]
    refused = [r for r in results if r[0] == 503]
    assert len(accepted) + len(refused) == 40, sorted({r[0] for r in results})
    for _status, headers, body, text in refused:
        assert 1 <= int(headers["Retry-After"]) <= 60
        assert "We are receiving many requests right now, so nothing was kept." in body
        assert text in body  # what the person typed is still in the form
    requests_kept, _offers, forms, events, kept = stored(settings)
    # One count a minute for everyone, shared by both worker processes (in memory: nothing of it on disk).
    assert kept == []
    assert len(accepted) <= 2 * REQUESTS_PER_MINUTE  # at most two clock minutes' worth
    if in_one_minute:  # the whole flood fell in one clock minute: exactly the budget got through, not one per worker
        assert len(accepted) == REQUESTS_PER_MINUTE
    # A refused request left nothing: no row, no counter, no used form; only the accepted ones are kept.
    assert requests_kept == len(accepted) == events["received"] == forms
    # And a coordinator typing in a request taken by phone is not held back by the public budget.
    coordinator = Client(server.url)
    login = coordinator.get("/coordinator/login").body
    assert coordinator.post("/coordinator/login", {"csrf_token": hidden(login, "csrf_token"), "handle": "alice",
                                                   "passphrase": PASSPHRASE}).status == 303
    # Full again now (the minute may have turned meanwhile), then a request by phone.
    assert 503 in [send_request(Client(server.url), f"one more {n}")[0] for n in range(REQUESTS_PER_MINUTE + 1)]
    page = coordinator.get("/coordinator/intake").body
    taken = coordinator.post("/coordinator/intake", {
        **form_of(page), "category": "food", "area": "north", "need": "taken by phone while full", "contact": "",
        "urgency": "today", "channel": "phone", "language": "en"})
    assert taken.status == 201, taken.body[-500:]
    assert stored(settings)[0] > len(accepted)


def test_offers_have_their_own_budget_and_the_busy_page_speaks_the_persons_language(
        served: tuple[Settings, LiveServer]) -> None:
    settings, server = served
    early_in_a_minute()
    results = flood(server.url, send_offer, 12, threads=4)
    accepted = [r for r in results if r[0] == 201]
    assert {r[0] for r in results} == {201, 503} and len(accepted) <= OFFERS_PER_MINUTE
    _requests, offers_kept, forms, events, _kept = stored(settings)
    assert offers_kept == len(accepted) == events["offered"] == forms
    # The requests' budget is untouched by the offers: a request still goes through.
    assert send_request(Client(server.url), "a real request after an offer flood")[0] == 201
    # Spent, in Spanish: the page is in Spanish, and keeps the text.
    for n in range(REQUESTS_PER_MINUTE):
        send_request(Client(server.url), f"fill {n}")
    status, headers, body = send_request(Client(server.url), "necesito arroz", answer="panadería sol", prefix="/es")
    assert status == 503 and headers["Retry-After"]
    assert "Estamos recibiendo muchas solicitudes" in body and "necesito arroz" in body


def test_a_flood_of_guesses_at_the_question_keeps_nothing_and_a_neighbours_answer_gets_in(
        served: tuple[Settings, LiveServer]) -> None:
    settings, server = served
    guesses = iter(["", "bakery", "sol bakery", "s0l", "SOLL", "panaderia", "bus station", "yes", "1234", "x" * 100])

    def guess(client: Client, text: str) -> tuple[int, dict[str, str], str]:
        return send_request(client, text, answer=next(guesses, "no idea"))

    results = flood(server.url, guess, 24, threads=4)
    assert {r[0] for r in results} == {400}
    for _status, _headers, body, text in results:
        assert "That is not the answer we expected." in body and text in body
    assert stored(settings)[:3] == (0, 0, 0)
    # A person who knows: any listed answer, in any case, with extra spaces, in either language.
    for answer, prefix in (("  SOL ", ""), ("panaderia sol", ""), ("Panadería   Sol", "/es")):
        assert send_request(Client(server.url), f"rice, answered {answer!r}", answer=answer, prefix=prefix)[0] == 201
    # The offer form asks it too.
    assert send_offer(Client(server.url), "lentils", answer="nope")[0] == 400
    assert send_offer(Client(server.url), "lentils", answer="sol")[0] == 201


def test_a_coordinator_marks_a_flood_as_spam_in_one_action_and_the_totals_stay_honest(
        tmp_path: Path) -> None:
    settings = make_instance(tmp_path / "instance")  # room for the flood: this test is about what comes after
    add_coordinator(settings)
    server = start_server(settings.instance, tmp_path / "logs", workers=2)
    try:
        real = send_request(Client(server.url), "a real neighbour needs nappies")
        assert real[0] == 201
        results = flood(server.url, send_request, 30)
        assert {r[0] for r in results} == {201}
        coordinator = Client(server.url)
        login = coordinator.get("/coordinator/login").body
        coordinator.post("/coordinator/login", {"csrf_token": hidden(login, "csrf_token"), "handle": "alice",
                                                "passphrase": PASSPHRASE})
        spam_ids: list[str] = []
        first = coordinator.get("/coordinator/").body
        assert first.count('type="checkbox" name="request"') == 20 and "Show 100 a page" in first
        inbox = coordinator.get("/coordinator/?per=100").body  # the whole flood on one page
        for row in inbox.split("<tr")[1:]:  # every request the flood sent, not the neighbour's
            ticked = re.search(r'<input type="checkbox" name="request" value="([0-9a-f]{32})"', row)
            if ticked and "nappies" not in row:
                spam_ids.append(ticked.group(1))
        token = hidden(coordinator.get("/coordinator/").body, "csrf_token")
        body = [("csrf_token", token)] + [("request", i) for i in spam_ids]
        # Without a CSRF token, nothing happens.
        assert coordinator.post("/coordinator/spam", {"request": spam_ids[0]}).status == 400
        asked = coordinator.post("/coordinator/spam", body)
        assert asked.status == 200 and f"These {len(spam_ids)} requests will be closed and erased now." in asked.body
        assert stored(settings)[0] == 31  # asking erased nothing
        done = coordinator.post("/coordinator/spam", [*body, ("confirm", "1")])
        assert done.status == 303
        shown = coordinator.get(done.headers["Location"].replace(server.url, "")).body
        assert f"{len(spam_ids)} requests were marked as spam and erased." in shown
        requests_kept, _offers, _forms, events, _kept = stored(settings)
        assert len(spam_ids) == 30 and requests_kept == 1
        assert events["spam"] == 30 and events["received"] == 31  # counted when each came in, and as spam
        # Sent twice, the same ids erase nothing more.
        again = coordinator.post("/coordinator/spam", [*body, ("confirm", "1")])
        assert again.status == 400 and "Nothing was erased." in again.body
    finally:
        server.stop()


# ---- the rules beneath, without a server ----

def test_the_default_config_sets_a_budget_and_no_question(settings: Settings, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    made = make_instance(fresh)
    text = (fresh / "config.toml").read_text()
    assert "[intake]" in text and "# [question]" in text
    defaults = policy.parse_intake({})
    assert (defaults.requests_per_minute, defaults.offers_per_minute) == (30, 10) and defaults.question == {}
    assert made.intake.question_in("en") is None


def test_a_bad_intake_or_question_table_stops_the_start_with_a_reason(settings: Settings) -> None:
    config = settings.instance / "config.toml"
    text = config.read_text()
    config.write_text(re.sub(r"requests_per_minute = \d+", "requests_per_minute = 0", text))
    with pytest.raises(ConfigError, match="requests_per_minute must be a whole number"):
        load_settings(settings.instance)
    for bad, reason in (("[question]\nen = { ask = \"Which bridge?\" }\n", "needs ask"),
                        ("[question]\nen = { ask = \"Which bridge?\", answers = [] }\n", "needs ask"),
                        ("[question]\nen = \"Which bridge?\"\n", "language code with a table")):
        config.write_text(text.replace("[argon2]", bad + "\n[argon2]"))
        with pytest.raises(ConfigError, match=reason):
            load_settings(settings.instance)


def test_answers_are_normalized_and_every_accepted_one_is_compared(monkeypatch: pytest.MonkeyPatch) -> None:
    intake = policy.parse_intake({"question": {"en": {"ask": "Which bridge?", "answers": ["Old  Stone", "Pont"]},
                                               "fr": {"ask": "Quel pont ?", "answers": ["Vieux pont"]}}})
    assert intake.question_in("fr") == "Quel pont ?" and intake.question_in("ar") == "Which bridge?"
    assert intake.answer_ok(" old stone ") and intake.answer_ok("PONT") and intake.answer_ok("vieux   PONT")
    assert not intake.answer_ok("old") and not intake.answer_ok("") and not intake.answer_ok("old stone bridge")
    calls: list[int] = []
    real = hmac.compare_digest

    def counted(a: bytes, b: bytes) -> bool:
        calls.append(len(a) + len(b))
        return real(a, b)

    monkeypatch.setattr(policy.hmac, "compare_digest", counted)
    assert intake.answer_ok("old stone")  # the first accepted answer: the others are compared all the same
    assert calls == [64, 64, 64]  # fixed-length digests, every accepted answer, no early exit
    assert "Old" not in repr(intake) and "Pont" not in repr(intake)


def test_without_a_question_the_forms_ask_none_and_with_one_each_language_shows_its_own(
        settings: Settings, client: FlaskClient) -> None:
    assert 'name="answer"' not in client.get("/").get_data(as_text=True)
    assert 'name="answer"' not in client.get("/offer").get_data(as_text=True)
    asked = create_app(configure(settings, question=QUESTION)).test_client()
    assert "What is the bakery by the bus station called?" in asked.get("/").get_data(as_text=True)
    assert "¿Cómo se llama la panadería junto a la estación?" in asked.get("/es/").get_data(as_text=True)
    assert "What is the bakery by the bus station called?" in asked.get("/fr/offer").get_data(as_text=True)
    wrong = asked.post("/", data=request_form(asked, need="rice please", answer="nope"))
    assert wrong.status_code == 400 and "rice please" in wrong.get_data(as_text=True)
    assert asked.post("/", data=request_form(asked, need="rice please", answer="Sol")).status_code == 201


def test_the_budget_is_taken_inside_the_write_and_refuses_without_writing(settings: Settings) -> None:
    small = configure(settings, (2, 1))
    intake = budget.IntakeBudget()
    with open_store(small) as store:
        with store.write() as tx:
            intake.take(tx, small, "request")
            intake.take(tx, small, "request")
        changes = store.conn.total_changes
        with pytest.raises(budget.Busy) as refused, store.write() as tx:
            intake.take(tx, small, "request")
        assert store.conn.total_changes == changes and 1 <= refused.value.retry_after <= 60
        with pytest.raises(budget.Busy):
            intake.check(small, "request")
        intake.check(small, "offer")  # the offers' budget is its own
        budget.IntakeBudget().check(small, "request")  # and each budget its own memory


def test_the_budget_counts_in_one_minute_and_starts_again_in_the_next(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    small = configure(settings, (1, 1))
    intake = budget.IntakeBudget()
    clock = [120 * 60 + 59.5]
    monkeypatch.setattr(budget.time, "time", lambda: clock[0])
    with open_store(small) as store, store.write() as tx:
        intake.take(tx, small, "request")
        with pytest.raises(budget.Busy) as refused:
            intake.take(tx, small, "request")
        assert refused.value.retry_after == 1  # half a second to the next minute: one, never zero
        clock[0] += 1  # the next minute: a fresh budget
        intake.take(tx, small, "request")
        assert intake.taken("request", 121) == 1 and intake.taken("request", 120) == 0


def test_a_worker_forked_from_the_master_counts_in_the_masters_memory(settings: Settings) -> None:
    """The server makes the budget in its master; each worker is forked from it and takes from the same count."""
    small = configure(settings, (3, 1))
    intake = budget.IntakeBudget()
    child = os.fork()
    if child == 0:  # a worker: takes the whole budget, in its own process
        try:
            with open_store(small) as store, store.write() as tx:
                for _ in range(3):
                    intake.take(tx, small, "request")
        finally:
            os._exit(0)
    assert os.waitpid(child, 0)[1] == 0
    with pytest.raises(budget.Busy):
        intake.check(small, "request")  # the master (and so every other worker) sees it spent


def test_a_public_submission_leaves_no_minute_on_disk(settings: Settings) -> None:
    """The attack: with db.key, read every value of every table after a public request and an offer.

    Nothing may name the minute (or the second) they came in: the day is the finest time
    a requester's record keeps. The intake budget used to keep its count in a row keyed by
    the minute, swept only at the next throttle write.
    """
    app = create_app(configure(settings, (5, 5)))
    client = app.test_client()
    before = time.time()
    assert client.post("/", data=request_form(client, need="minute probe")).status_code == 201
    offer_page = client.get("/offer").get_data(as_text=True)
    assert client.post("/offer", data={"csrf_token": hidden(offer_page, "csrf_token"),
                                       "form_nonce": hidden(offer_page, "form_nonce"), "kind": "goods",
                                       "category": "food", "area": "north", "what": "a probe",
                                       "contact": ""}).status_code == 201
    after = time.time()
    minutes = set(range(int(before // 60), int(after // 60) + 1))
    seconds = set(range(int(before), int(after) + 1))
    marks = {m.to_bytes(8, "big") for m in minutes} | {m.to_bytes(8, "little") for m in minutes}
    found = []
    with open_store(settings) as store:
        tables = [r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in store.conn.execute(f'SELECT * FROM "{table}"'):  # noqa: S608  # names from the schema
                for value in row:
                    if isinstance(value, int) and (value in minutes or value in seconds):
                        found.append((table, value))
                    elif isinstance(value, bytes) and any(mark in value for mark in marks):
                        found.append((table, "bytes"))
                    elif isinstance(value, str) and any(str(t) in value for t in minutes | seconds):
                        found.append((table, value[:40]))
    assert found == []


def test_a_request_marked_as_spam_later_is_counted_in_the_week_it_came_in(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dates, "this_week", lambda: "2026-W09")
    with open_store(settings) as store:
        submit_request(store, settings, RequestDetails("rent", "east", "flyer spam", "", "today"), "n" * 20)
        keys = account_keys(store)
        (row_id,) = [r.id for r in inbox_page(store, keys, 1)[0]]
        monkeypatch.setattr(dates, "this_week", lambda: "2026-W11")
        assert mark_spam(store, keys, [row_id, row_id, "not an id"]) == 1
        assert mark_spam(store, keys, [row_id]) == 0  # gone already
        assert ("2026-W09", "rent", "east", "spam", 1) in counters.all_counters(store)
        assert store.conn.execute("SELECT count(*) FROM requests").fetchone()[0] == 0


def test_only_a_current_member_marks_spam_and_never_a_request_a_quorum_allocated(settings: Settings) -> None:
    add_coordinator(settings, "bob")  # an account, not yet a member: it reads nothing
    with open_store(settings) as store:
        for n in range(2):
            submit_request(store, settings, RequestDetails("food", "north", f"need {n}", "", "today"), f"nonce-{n}" * 3)
        alice, bob = account_keys(store), account_keys(store, "bob")
        ids = [r.id for r in inbox_page(store, alice, 1)[0]]
        with pytest.raises(NotYours):
            mark_spam(store, bob, ids)
        with store.write() as tx:
            tx.execute("UPDATE requests SET status = 'allocated' WHERE id = ?", (bytes.fromhex(ids[0]),))
        assert mark_spam(store, alice, ids) == 1
        assert [r.id for r in inbox_page(store, alice, 1)[0]] == [ids[0]]
