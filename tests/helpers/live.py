"""A real `aidnet serve` on 127.0.0.1 in a subprocess, and a small cookie-keeping HTTP client."""

from __future__ import annotations

import http.cookiejar
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .instance import PASSPHRASE, add_coordinator, make_instance
from .pages import hidden


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def aidnet_command() -> list[str]:
    script = Path(sys.executable).parent / "aidnet"
    return [str(script)] if script.exists() else [sys.executable, "-m", "aidnet.cli"]


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    tmpdir: Path

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)

    def output(self) -> bytes:
        return self.stdout.read_bytes() + self.stderr.read_bytes()


def start_server(instance: Path, logs: Path, workers: int = 2, extra: tuple[str, ...] = (),
                 command: list[str] | None = None) -> LiveServer:
    """Start `aidnet serve` (with any extra arguments) in its own process group; wait until it answers.

    command replaces the `aidnet` command (the bench's baseline server: bench/stock_worker.py)."""
    port = free_port()
    logs.mkdir(parents=True, exist_ok=True)
    tmpdir = logs / "tmp"
    tmpdir.mkdir(exist_ok=True)
    stdout, stderr = logs / "stdout.log", logs / "stderr.log"
    env = dict(os.environ, TMPDIR=str(tmpdir), PYTHONUNBUFFERED="1")
    with stdout.open("ab") as out, stderr.open("ab") as err:
        process = subprocess.Popen(
            [*(command or aidnet_command()), "serve", "--instance", str(instance), "--port", str(port), "--workers", str(workers),
             *extra],
            stdout=out, stderr=err, env=env, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {stderr.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/status", timeout=2):
                return LiveServer(url, process, stdout, stderr, tmpdir)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    raise RuntimeError("server did not start in 30 s")


def serve_new_instance(root: Path) -> Iterator[LiveServer]:
    """A fresh instance under root with the coordinator alice, served until the generator is closed (for fixtures)."""
    settings = make_instance(root / "instance")
    add_coordinator(settings)
    server = start_server(settings.instance, root / "logs")
    try:
        yield server
    finally:
        server.stop()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: str


class Client:
    """Keeps cookies like a browser; never follows redirects silently."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)

    def request(self, path: str, data: dict[str, str] | list[tuple[str, str]] | None = None) -> Reply:
        """GET, or POST data as a form (a list of pairs may repeat a name, as ticked boxes do)."""
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body)
        try:
            with self.opener.open(req, timeout=30) as response:
                return Reply(response.status, dict(response.headers), response.read().decode())
        except urllib.error.HTTPError as error:
            with error:
                return Reply(error.code, dict(error.headers), error.read().decode())

    def get(self, path: str) -> Reply:
        return self.request(path)

    def post(self, path: str, data: dict[str, str] | list[tuple[str, str]]) -> Reply:
        return self.request(path, data)

    def login(self, handle: str = "alice", passphrase: str = PASSPHRASE) -> Reply:
        """Log in as a coordinator through the real login form (303 when it worked)."""
        page = self.get("/coordinator/login").body
        return self.post("/coordinator/login", {"csrf_token": hidden(page, "csrf_token"), "handle": handle,
                                                "passphrase": passphrase})
