"""The requester's conversation and erasure: answers sealed to the coordinators, withdraw = crypto-shred."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
import sqlcipher3
from flask.testing import FlaskClient
from helpers.instance import PASSPHRASE, add_coordinator, make_instance, send_reply
from helpers.live import Client, start_server
from helpers.pages import Auth, codename_from, hidden, request_form

import crypto
from aidnet.config import Settings
from aidnet.records import conversation, requests
from aidnet.store import Store, connection, counters, open_store
from aidnet.store import requests as request_rows


def submit(client: FlaskClient, **overrides: str) -> str:
    response = client.post("/", data=request_form(client, **overrides))
    assert response.status_code == 201
    return codename_from(response.get_data(as_text=True))


def open_status(client: FlaskClient, codename: str, prefix: str = "") -> str:
    page = client.get(prefix + "/status").get_data(as_text=True)
    response = client.post(prefix + "/status", data={"csrf_token": hidden(page, "csrf_token"), "codename": codename})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def answer(client: FlaskClient, status_page: str, codename: str, text: str, prefix: str = ""):  # type: ignore[no-untyped-def]
    return client.post(prefix + "/status/answer", data={
        "csrf_token": hidden(status_page, "csrf_token"), "codename": codename,
        "form_nonce": hidden(status_page, "form_nonce"), "answer": text})


def request_id_of(client: FlaskClient, auth: Auth) -> str:
    auth.login()
    inbox = client.get("/coordinator/").get_data(as_text=True)
    return re.search(r"/coordinator/request/([0-9a-f]{32})", inbox).group(1)


def reply(client: FlaskClient, request_id: str, text: str) -> None:
    page = client.get(f"/coordinator/request/{request_id}").get_data(as_text=True)
    assert client.post(f"/coordinator/request/{request_id}/reply", data={
        "csrf_token": hidden(page, "csrf_token"), "form_nonce": hidden(page, "form_nonce"), "text": text}).status_code == 303


def test_the_codename_never_goes_into_a_url(client: FlaskClient) -> None:
    codename = submit(client)
    page = open_status(client, codename)
    assert codename not in "".join(re.findall(r'(?:href|action)="([^"]*)"', page))
    # It is carried in the answer and withdraw forms' POST bodies only.
    assert page.count(f'name="codename" type="hidden" value="{codename}"') == 2


def test_conversation_in_order_both_ways(client: FlaskClient, auth: Auth) -> None:
    codename = submit(client, need="Baby formula", for_someone_else="y")
    status = open_status(client, codename)
    first = answer(client, status, codename, "I can come after 6pm")
    assert first.status_code == 200
    body = first.get_data(as_text=True)
    assert "Your answer was sent" in body and "I can come after 6pm" in body
    request_id = request_id_of(client, auth)
    page = client.get(f"/coordinator/request/{request_id}").get_data(as_text=True)
    assert "The requester wrote:" in page and "I can come after 6pm" in page
    assert "Someone else (the requester asks on their behalf)" in page
    reply(client, request_id, "We have two tins at the library")
    status = open_status(client, codename)
    second = answer(client, status, codename, "Thank you, Thursday is fine")
    text = second.get_data(as_text=True)
    order = [text.index(s) for s in ("I can come after 6pm", "We have two tins at the library", "Thank you, Thursday is fine")]
    assert order == sorted(order)
    assert "You wrote:" in text and "The coordinators wrote:" in text
    page = client.get(f"/coordinator/request/{request_id}").get_data(as_text=True)
    # The coordinators see the whole thread, their own reply included, in order and attributed.
    order = [page.index(s) for s in ("I can come after 6pm", "alice wrote on", "We have two tins at the library",
                                      "Thank you, Thursday is fine")]
    assert order == sorted(order)


def test_answer_errors_keep_the_text_and_store_nothing(client: FlaskClient, store: Store) -> None:
    codename = submit(client)
    status = open_status(client, codename)
    empty = answer(client, status, codename, "")
    assert empty.status_code == 400 and "Write your answer first." in empty.get_data(as_text=True)
    long = answer(client, status, codename, "é" * 4001)
    assert long.status_code == 400 and "Please keep this under 4000 characters." in long.get_data(as_text=True)
    assert "é" * 4001 in long.get_data(as_text=True)
    wrong = answer(client, status, "bako mize tula bako mize tula bako", "hello")
    assert wrong.status_code == 404 and "We could not find a request" in wrong.get_data(as_text=True)
    assert store.conn.execute("SELECT count(*) FROM answers").fetchone()[0] == 0


def test_repeated_answer_is_kept_once(client: FlaskClient, store: Store) -> None:
    codename = submit(client)
    status = open_status(client, codename)
    assert answer(client, status, codename, "once").status_code == 200
    again = answer(client, status, codename, "once")
    assert again.status_code == 409 and "already sent" in again.get_data(as_text=True)
    assert store.conn.execute("SELECT count(*) FROM answers").fetchone()[0] == 1


def test_answers_are_sealed_to_coordinators_and_requester_only(settings: Settings, store: Store) -> None:
    details = requests.RequestDetails("food", "north", "rice", "", "today")
    codename = requests.submit_request(store, settings, details, secrets.token_urlsafe(16))
    assert conversation.answer(store, settings, codename, "sealed words", secrets.token_urlsafe(16))
    (answer_id, envelope, after), = [(a, e, n) for a, e, n in request_rows.answers_for(store,
        store.conn.execute("SELECT id FROM requests").fetchone()[0])]
    assert after == 0 and b"sealed words" not in envelope
    view = conversation.for_requester(store, settings, codename)
    assert view is not None and [m.text for m in view.messages] == ["sealed words"]
    assert conversation.for_requester(store, settings, "bako mize tula bako mize tula bako") is None


def test_withdraw_needs_confirmation_then_erases(client: FlaskClient, store: Store, auth: Auth) -> None:
    codename = submit(client, category="medicine", area="east")
    request_id = request_id_of(client, auth)
    reply(client, request_id, "a reply")
    status = open_status(client, codename)
    assert answer(client, status, codename, "an answer").status_code == 200
    status = open_status(client, codename)
    data = {"csrf_token": hidden(status, "csrf_token"), "codename": codename}
    unconfirmed = client.post("/status/withdraw", data=data)
    assert unconfirmed.status_code == 400
    assert "Tick the box to confirm" in unconfirmed.get_data(as_text=True)
    assert request_rows.count(store) == 1
    done = client.post("/status/withdraw", data=dict(data, confirm="y"))
    assert done.status_code == 200 and "Your request was erased" in done.get_data(as_text=True)
    for table in ("requests", "replies", "answers"):
        assert store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0  # noqa: S608
    # The counters learn only that one request was withdrawn this week.
    events = {(c, a, e): n for _w, c, a, e, n in counters.all_counters(store)}
    assert events[("unknown", "unknown", "withdrawn")] == 1
    assert events[("medicine", "east", "received")] == 1
    # Gone for the requester, and for the coordinator.
    page = client.get("/status").get_data(as_text=True)
    gone = client.post("/status", data={"csrf_token": hidden(page, "csrf_token"), "codename": codename})
    assert gone.status_code == 404
    assert client.get(f"/coordinator/request/{request_id}").status_code == 404
    # Withdrawing again finds nothing, the same neutral answer as a wrong codename.
    again = client.post("/status/withdraw", data=dict(data, confirm="y"))
    assert again.status_code == 404 and "We could not find a request" in again.get_data(as_text=True)


def _plaintext_connect(path: Path, key: bytes, group_commit: bool = True) -> sqlcipher3.Connection:
    """connection.connect without the cipher, so the test can look for bytes in the pages themselves."""
    conn = sqlcipher3.connect(str(path), isolation_level=None, check_same_thread=False)
    for pragma in ("journal_mode = WAL", "synchronous = FULL", "secure_delete = ON", "foreign_keys = ON",
                   "temp_store = MEMORY", "busy_timeout = 10000"):
        conn.execute(f"PRAGMA {pragma}")
    return conn


def test_withdraw_leaves_no_sealed_key_in_any_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the at-rest cipher taken away, the envelopes' bytes are visible in the files; after
    withdraw + checkpoint they are in none (secure_delete zeroes, the WAL is truncated)."""
    monkeypatch.setattr(connection, "connect", _plaintext_connect)
    settings = make_instance(tmp_path / "instance")
    add_coordinator(settings)
    store = open_store(settings)
    store.migrate()
    try:
        keep = requests.submit_request(store, settings, requests.RequestDetails("food", "north", "other", "", "today"),
                                     secrets.token_urlsafe(16))
        codename = requests.submit_request(store, settings, requests.RequestDetails("food", "north", "x", "", "today"),
                                         secrets.token_urlsafe(16))
        row = request_rows.by_lookup(store, crypto.derive_codename(codename, settings.codename_salt).lookup_hash)
        assert row is not None
        assert send_reply(store, settings, row.id.hex(), "reply")
        assert conversation.answer(store, settings, codename, "answer", secrets.token_urlsafe(16))
        secrets_ = [row.envelope[40:104], request_rows.replies_for(store, row.id)[0].envelope[40:104],
                    request_rows.answers_for(store, row.id)[0][1][40:104]]
        files = [p for p in settings.instance.iterdir() if p.is_file()]
        raw = b"".join(p.read_bytes() for p in files)
        assert all(s in raw for s in secrets_), "the test must be able to see the bytes before erasure"
        assert conversation.withdraw(store, settings, codename)
        for path in [p for p in settings.instance.iterdir() if p.is_file()]:
            data = path.read_bytes()
            for s in secrets_:
                assert s not in data, f"erased bytes remain in {path.name}"
        assert conversation.for_requester(store, settings, keep) is not None  # the other request is untouched
    finally:
        store.close()


def test_erasure_through_a_real_server_leaves_the_marker_nowhere(tmp_path: Path) -> None:
    settings = make_instance(tmp_path / "instance")
    add_coordinator(settings)
    server = start_server(settings.instance, tmp_path / "logs")
    marker, answer_marker = "MARKER" + secrets.token_hex(8), "ANSWER" + secrets.token_hex(8)
    try:
        c = Client(server.url)
        page = c.get("/es/").body
        receipt = c.post("/es/", {"csrf_token": hidden(page, "csrf_token"), "form_nonce": hidden(page, "form_nonce"),
                                  "category": "food", "area": "north", "need": marker, "contact": marker,
                                  "urgency": "today"})
        assert receipt.status == 201
        codename = codename_from(receipt.body)
        status_page = c.get("/es/status").body
        status = c.post("/es/status", {"csrf_token": hidden(status_page, "csrf_token"), "codename": codename}).body
        sent = c.post("/es/status/answer", {"csrf_token": hidden(status, "csrf_token"), "codename": codename,
                                            "form_nonce": hidden(status, "form_nonce"), "answer": answer_marker})
        assert sent.status == 200 and answer_marker in sent.body
        login = c.get("/coordinator/login").body
        assert c.post("/coordinator/login", {"csrf_token": hidden(login, "csrf_token"), "handle": "alice",
                                             "passphrase": PASSPHRASE}).status == 303
        inbox = c.get("/coordinator/").body
        request_id = re.search(r"/coordinator/request/([0-9a-f]{32})", inbox).group(1)
        assert answer_marker in c.get(f"/coordinator/request/{request_id}").body
        # The CSRF secret is new since the coordinator login in this browser: a fresh page's token.
        fresh = hidden(c.get("/es/status").body, "csrf_token")
        erased = c.post("/es/status/withdraw", {"csrf_token": fresh, "codename": codename, "confirm": "y"})
        assert erased.status == 200 and "Tu solicitud se borró" in erased.body
        assert c.get(f"/coordinator/request/{request_id}").status == 404
        files = [p for folder in (settings.instance, server.tmpdir) for p in folder.rglob("*") if p.is_file()]
        wal = settings.instance / "aidnet.db-wal"
        assert not wal.exists() or wal.stat().st_size == 0, "withdraw checkpoints and truncates the WAL"
        for path in files:
            data = path.read_bytes()
            for secret in (marker, answer_marker, codename):
                assert secret.encode() not in data, f"{secret[:6]} in {path.name}"
    finally:
        server.stop()
    for secret in (marker, answer_marker, codename):
        assert secret.encode() not in server.output()
    check = open_store(settings)
    try:
        assert request_rows.count(check) == 0
        assert check.conn.execute("SELECT count(*) FROM answers").fetchone()[0] == 0
    finally:
        check.close()
