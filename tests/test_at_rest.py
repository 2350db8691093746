"""Nothing personal in clear at rest, in logs or in temp files; no requester address anywhere.

A real `aidnet serve` receives a request and a reply carrying unique markers;
then every file the instance and the server wrote is scanned for them.
"""

from __future__ import annotations

import re
import secrets
import socket
import sqlite3
from pathlib import Path

import pytest
from helpers.instance import PASSPHRASE, add_coordinator, make_instance
from helpers.live import Client, start_server
from helpers.pages import codename_from, hidden, reply_data

pytestmark = pytest.mark.server


def _encodings(text: str) -> list[bytes]:
    return [text.encode("utf-8"), text.encode("utf-16-le"), text.encode("utf-16-be")]


def test_markers_codename_and_address_appear_nowhere(tmp_path: Path) -> None:
    settings = make_instance(tmp_path / "instance")
    add_coordinator(settings)
    server = start_server(settings.instance, tmp_path / "logs")
    marker = "MARKER" + secrets.token_hex(8)
    contact = "CONTACT" + secrets.token_hex(8)
    reply_marker = "REPLY" + secrets.token_hex(8)
    try:
        c = Client(server.url)
        page = c.get("/").body
        form = {"csrf_token": hidden(page, "csrf_token"), "form_nonce": hidden(page, "form_nonce"),
                "category": "food", "area": "north", "need": f"need {marker}", "contact": contact,
                "urgency": "today"}
        receipt = c.post("/", form)
        assert receipt.status == 201
        codename = codename_from(receipt.body)
        # A bad submission carrying the marker too: error paths must not leak it either.
        assert c.post("/", dict(form, category="bogus")).status == 400
        assert c.post("/", dict(form, csrf_token="bad")).status == 400
        # The coordinator reads and answers, so the content passes through the server's memory.
        login_page = c.get("/coordinator/login").body
        assert c.post("/coordinator/login", {"csrf_token": hidden(login_page, "csrf_token"),
                                             "handle": "alice", "passphrase": PASSPHRASE}).status == 303
        inbox = c.get("/coordinator/").body
        assert marker in inbox
        request_id = re.search(r"/coordinator/request/([0-9a-f]{32})", inbox).group(1)
        page = c.get(f"/coordinator/request/{request_id}").body
        assert c.post(f"/coordinator/request/{request_id}/reply", reply_data(page, reply_marker)).status == 303
        status_page = c.get("/status").body
        view = c.post("/status", {"csrf_token": hidden(status_page, "csrf_token"), "codename": codename})
        assert reply_marker in view.body
        # Malformed HTTP carrying the marker: the server's error log must not echo it.

        port = int(server.url.rsplit(":", 1)[1])
        for raw in (f"GET /{marker}\x00\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
                    f"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz{marker}\r\n"):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(raw.encode("latin-1"))
                sock.recv(1024)
        files_while_running = _instance_files(settings.instance, server.tmpdir)
        _assert_absent(files_while_running, [marker, contact, reply_marker, codename, "127.0.0.1", PASSPHRASE])
    finally:
        server.stop()
    files = _instance_files(settings.instance, server.tmpdir)
    assert any(p.name == "aidnet.db" for p in files)
    _assert_absent(files, [marker, contact, reply_marker, codename, "127.0.0.1", PASSPHRASE])
    output = server.output()
    for secret in (marker, contact, reply_marker, codename, "127.0.0.1", PASSPHRASE):
        for encoded in _encodings(secret):
            assert encoded not in output, f"{secret[:8]}... in server output"
    # No line about a single request (which the log would stamp with a time) is written.
    assert b"Invalid" not in output and b"Error handling" not in output
    # The temp folder the server was given stays empty.
    assert list(server.tmpdir.iterdir()) == []


def _instance_files(*folders: Path) -> list[Path]:
    return [p for folder in folders for p in folder.rglob("*") if p.is_file()]


def _assert_absent(files: list[Path], secrets_: list[str]) -> None:
    for path in files:
        data = path.read_bytes()
        for secret in secrets_:
            for encoded in _encodings(secret):
                assert encoded not in data, f"{secret[:8]}... found in {path.name}"


def test_plain_sqlite_cannot_open_the_database(tmp_path: Path) -> None:
    settings = make_instance(tmp_path / "instance")
    add_coordinator(settings)
    conn = sqlite3.connect(settings.database)
    with pytest.raises(sqlite3.DatabaseError):
        conn.execute("SELECT * FROM sqlite_master").fetchall()
    conn.close()
    assert not settings.database.read_bytes().startswith(b"SQLite format 3")


def test_offers_notes_and_decisions_leave_no_clear_content(tmp_path: Path) -> None:
    """Offers, stock notes and sealed decision notes, through a real server, then every file scanned."""
    settings = make_instance(tmp_path / "instance")
    add_coordinator(settings)
    server = start_server(settings.instance, tmp_path / "logs")
    offer_mark, stock_mark, note_mark = ("OFFER" + secrets.token_hex(6), "STOCK" + secrets.token_hex(6),
                                         "NOTE" + secrets.token_hex(6))
    try:
        c = Client(server.url)
        page = c.get("/offer").body
        receipt = c.post("/offer", {"csrf_token": hidden(page, "csrf_token"), "form_nonce": hidden(page, "form_nonce"),
                                    "kind": "goods", "category": "food", "area": "east", "what": offer_mark,
                                    "contact": ""})
        assert receipt.status == 201
        page = c.get("/").body
        assert c.post("/", {"csrf_token": hidden(page, "csrf_token"), "form_nonce": hidden(page, "form_nonce"),
                            "category": "food", "area": "east", "need": "soup", "contact": "",
                            "urgency": "today"}).status == 201
        login_page = c.get("/coordinator/login").body
        c.post("/coordinator/login", {"csrf_token": hidden(login_page, "csrf_token"), "handle": "alice",
                                      "passphrase": PASSPHRASE})
        stock_page = c.get("/coordinator/stock/").body
        assert offer_mark in stock_page
        token = hidden(stock_page, "csrf_token")
        assert c.post("/coordinator/stock/", {"csrf_token": token, "kind": "goods", "category": "food",
                                              "amount": "12", "note": stock_mark}).status == 303
        request_id = re.search(r"/coordinator/request/([0-9a-f]{32})", c.get("/coordinator/").body).group(1)
        offer = re.search(r'value="(offer:[0-9a-f]{32})"', c.get(f"/coordinator/request/{request_id}").body).group(1)
        assert c.post(f"/coordinator/decisions/request/{request_id}/allocate",
                      {"csrf_token": token, "source": offer, "note": note_mark}).status == 303
        assert note_mark in c.get(f"/coordinator/request/{request_id}").body
    finally:
        server.stop()
    _assert_absent(_instance_files(settings.instance, server.tmpdir), [offer_mark, stock_mark, note_mark, "127.0.0.1"])
    for secret in (offer_mark, stock_mark, note_mark):
        assert secret.encode() not in server.output()
