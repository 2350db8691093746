"""Load through the real forms of a live server, and a check that every receipt opens.

Each simulated requester fetches the form (CSRF token and form nonce), sends a
request whose text is unique to it, and keeps what the receipt says. Only a
201 page with a codename counts as a receipt. Used by the load and crash
tests and by bench/run.py.
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

import crypto
from aidnet.config import Settings
from aidnet.records.requests import KIND_REQUEST, RequestDetails
from aidnet.store import Store, counters, open_store
from aidnet.store import accounts as account_rows
from aidnet.store import requests as request_rows

_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]*)"')
_NONCE = re.compile(r'name="form_nonce" type="hidden" value="([^"]*)"')
_CODENAME = re.compile(r'<p class="codename" id="codename" lang="zxx">([a-z ]+)</p>')
_COOKIE = re.compile(r"^([^=;]+)=([^;]*)")


@dataclass
class LoadResult:
    receipts: dict[str, str] = field(default_factory=dict)  # codename -> the need text sent
    statuses: dict[int, int] = field(default_factory=dict)  # HTTP status -> count (POSTs)
    latencies: list[float] = field(default_factory=list)  # seconds per receipted POST
    connection_errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, status: int) -> None:
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


class Requester:
    """One person with a browser: a cookie, one connection at a time, kept alive.

    HTTP/1.1 over a plain socket rather than http.client: the load clients
    share the box's two cores with the server they measure, and this costs
    them about half the CPU a submission (bench/ prints it).
    """

    def __init__(self, url: Callable[[], str]) -> None:
        self.url = url
        self.cookies: dict[str, str] = {}
        self.sock: socket.socket | None = None
        self.base = ""
        self.host = ""
        self.buffer = b""

    def _connection(self) -> socket.socket:
        base = self.url()
        if self.sock is None or base != self.base:
            self.close()
            parts = urlsplit(base)
            self.sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=30)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.base, self.host, self.buffer = base, parts.netloc, b""
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _send(self, method: str, path: str, body: dict[str, str] | None = None) -> tuple[int, str]:
        # Like a browser: a kept-alive connection the server closed meanwhile (a worker
        # recycled after its max requests) is retried once on a fresh one.
        fresh = self.sock is None or self.base != self.url()
        try:
            return self._send_once(method, path, body)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            if fresh:
                raise
            return self._send_once(method, path, body)

    def _send_once(self, method: str, path: str, body: dict[str, str] | None = None) -> tuple[int, str]:
        sock = self._connection()
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}"]
        if self.cookies:
            head.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        data = b""
        if body is not None:
            data = urlencode(body).encode("ascii")
            head += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(data)}"]
        try:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)
            status, headers, text, keep = self._response(sock)
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        if not keep:
            self.close()
        for name, value in headers:
            if name == "set-cookie":
                match = _COOKIE.match(value)
                if match:
                    self.cookies[match.group(1)] = match.group(2)
        return status, text

    def _read(self, sock: socket.socket) -> None:
        chunk = sock.recv(65536)
        if not chunk:
            raise http.client.RemoteDisconnected("the server closed the connection")
        self.buffer += chunk

    def _response(self, sock: socket.socket) -> tuple[int, list[tuple[str, str]], str, bool]:
        while b"\r\n\r\n" not in self.buffer:
            self._read(sock)
        raw, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise http.client.BadStatusLine(lines[0])
        headers = [(n.strip().lower(), v.strip()) for n, _, v in (line.partition(":") for line in lines[1:])]
        fields = dict(headers)
        keep = fields.get("connection", "").lower() != "close"
        if fields.get("transfer-encoding", "").lower() == "chunked":
            payload = b""
            while True:
                while b"\r\n" not in self.buffer:
                    self._read(sock)
                size_line, self.buffer = self.buffer.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                while len(self.buffer) < size + 2:
                    self._read(sock)
                payload, self.buffer = payload + self.buffer[:size], self.buffer[size + 2:]
                if size == 0:
                    break
        elif "content-length" in fields:
            length = int(fields["content-length"])
            while len(self.buffer) < length:
                self._read(sock)
            payload, self.buffer = self.buffer[:length], self.buffer[length:]
        else:  # no length: the body runs to the end of the connection
            try:
                while True:
                    self._read(sock)
            except http.client.RemoteDisconnected:
                pass
            payload, self.buffer, keep = self.buffer, b"", False
        return int(parts[1]), headers, payload.decode("utf-8"), keep

    def submit(self, need: str) -> tuple[int, str | None, float]:
        """Fill in and send the request form once: (status, codename or None, seconds for the POST)."""
        status, page = self._send("GET", "/")
        csrf, nonce = _CSRF.search(page), _NONCE.search(page)
        if status != 200 or not csrf or not nonce:
            return status, None, 0.0
        form = {"csrf_token": csrf.group(1), "form_nonce": nonce.group(1), "category": "food",
                "area": "north", "need": need, "contact": "", "urgency": "this_week"}
        started = time.perf_counter()
        status, page = self._send("POST", "/", form)
        elapsed = time.perf_counter() - started
        match = _CODENAME.search(page)
        return status, (match.group(1) if status == 201 and match else None), elapsed


def run_load(url: Callable[[], str], clients: int, stop: threading.Event, result: LoadResult,
             tag: str = "load") -> list[threading.Thread]:
    """Start `clients` threads submitting until stop is set; connection failures are retried."""

    def client(number: int) -> None:
        person = Requester(url)
        sent = 0
        while not stop.is_set():
            sent += 1
            need = f"{tag} client {number} request {sent}"
            try:
                status, codename, elapsed = person.submit(need)
            except (OSError, http.client.HTTPException):
                with result.lock:
                    result.connection_errors += 1
                time.sleep(0.05)
                continue
            result.count(status)
            if codename is not None:
                with result.lock:
                    result.receipts[codename] = need
                    result.latencies.append(elapsed)
        person.close()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    return threads


def unreadable_receipts(settings: Settings, keys: crypto.KeyPair, receipts: dict[str, str]) -> list[str]:
    """Codenames whose request is missing, does not open with keys, or holds other text."""
    bad = []
    with open_store(settings) as store:
        for codename, need in receipts.items():
            row = request_rows.by_lookup(store, crypto.derive_codename(codename, settings.codename_salt).lookup_hash)
            if row is None:
                bad.append(codename)
                continue
            try:
                details = RequestDetails.from_bytes(crypto.open_envelope(row.envelope, row.id, KIND_REQUEST,
                                                                         keys.box_secret))
            except crypto.CryptoError:
                bad.append(codename)
                continue
            if details.need != need:
                bad.append(codename)
    return bad


def coordinator_keys(settings: Settings, handle: str, passphrase: str) -> crypto.KeyPair:
    with open_store(settings) as store:
        row = account_rows.by_handle(store, handle)
        assert row is not None
        return crypto.unwrap_with_passphrase(row.wrapped_keys, passphrase)


def integrity_ok(settings: Settings) -> bool:
    with open_store(settings) as store:
        return store.integrity_ok()


def atomic_counts(settings: Settings) -> tuple[int, int, int]:
    """(requests, "received" counter total, used form nonces): equal when every submission was all-or-nothing."""
    with open_store(settings) as store:
        received = sum(n for *_, event, n in counters.all_counters(store) if event == "received")
        return request_rows.count(store), received, table_rows(store, "used_forms")


def table_rows(store: Store, table: str) -> int:
    """How many rows a table holds (tests look at the database as an attacker with the key would)."""
    return int(store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
