"""Slow clients: connections that send one byte every couple of seconds, and probes that time the answers.

Half the connections dribble a request's headers, half send whole headers
announcing a 60,000-byte body and then dribble that. A connection the server
cuts off is opened again at once, as an attacker would. Used by the
slow-client test and by bench/run.py; 127.0.0.1 only.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from dataclasses import dataclass, field

_HEADERS = (b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow\r\nAccept: text/html\r\n"
            b"X-Padding: " + b"a" * 200 + b"\r\n\r\n")
_BODY_HEAD = (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
              b"Content-Length: 60000\r\n\r\n")


@dataclass
class SlowAttack:
    """`count` slow connections to 127.0.0.1:port, each sending a byte every `every` seconds, until stop()."""

    port: int
    count: int = 64
    every: float = 2.0
    cut: int = 0  # connections the server closed on them
    held: list[int] = field(default_factory=list)  # how many were open, sampled once a tick
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _open(self, number: int) -> tuple[socket.socket, bytes, int]:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.setblocking(False)
        if number % 2:  # whole headers at once, then a body a byte at a time
            sock.send(_BODY_HEAD)
            return sock, b"x" * 60000, 0
        return sock, _HEADERS, 0

    def _run(self) -> None:
        conns = [self._open(n) for n in range(self.count)]
        while not self._stop.is_set():
            tick = time.monotonic()
            for n, (sock, script, sent) in enumerate(conns):
                alive = True
                try:
                    try:  # non-blocking: b"" once the server closed it, an error if nothing came
                        answer: bytes | None = sock.recv(4096)
                    except BlockingIOError:
                        answer = None
                    if answer == b"":
                        alive = False
                    elif sent < len(script):
                        sock.send(script[sent:sent + 1])
                        sent += 1
                except OSError:
                    alive = False
                if alive:
                    conns[n] = (sock, script, sent)
                    continue
                self.cut += 1
                sock.close()
                try:
                    conns[n] = self._open(n)
                except OSError:
                    conns[n] = (socket.socket(), b"", 0)  # could not reconnect: counted as cut next tick
            self.held.append(sum(1 for sock, _, _ in conns if sock.fileno() != -1))
            self._stop.wait(max(0.0, self.every - (time.monotonic() - tick)))
        for sock, _, _ in conns:
            sock.close()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


def timed_get(port: int, path: str, timeout: float = 1.0) -> tuple[int, float]:
    """One GET on a new connection, as a monitor or a person arriving would send it: (status or 0, seconds)."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        status = response.status
    except (OSError, http.client.HTTPException):
        status = 0
    finally:
        conn.close()
    return status, time.perf_counter() - started


@dataclass
class Probes:
    """/healthz on one port and the coordinator login page on another, each every `every` seconds."""

    public_port: int
    coordinator_port: int
    every: float = 0.25
    healthz: list[tuple[int, float]] = field(default_factory=list)
    login: list[tuple[int, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _probe(self, port: int, path: str, into: list[tuple[int, float]]) -> None:
        while not self._stop.is_set():
            into.append(timed_get(port, path))
            self._stop.wait(self.every)

    def start(self) -> None:
        self._threads = [threading.Thread(target=self._probe, args=args, daemon=True) for args in (
            (self.public_port, "/healthz", self.healthz), (self.coordinator_port, "/coordinator/login", self.login))]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)


def p99(seconds: list[float]) -> float:
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")
