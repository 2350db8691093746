"""`aidnet serve` in production shape: defaults, health check, graceful restart, the two-port split."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import time
from pathlib import Path

import pytest
from flask import Flask
from helpers.cli import run_aidnet
from helpers.instance import PASSPHRASE, add_coordinator, make_instance
from helpers.live import Client, free_port, start_server
from helpers.pages import hidden

from aidnet.config import ConfigError, Settings, load_settings
from aidnet.serve.server import QuietLogger, server_options
from aidnet.serve.worker import ReadFirstWorker, block_stops_for_fork, keep_stop_signals_sent_while_forking
from aidnet.web.app import create_app


def test_server_defaults_fit_a_small_box() -> None:
    opts = server_options("127.0.0.1", 8080, 2)
    assert opts["bind"] == ["127.0.0.1:8080"]
    assert issubclass(opts["worker_class"], ReadFirstWorker) and opts["workers"] == 2
    assert server_options("127.0.0.1", 8080, 2, coordinator_port=8081)["worker_class"].coordinator_port == 8081
    assert opts["max_requests"] > 0 and 0 < opts["max_requests_jitter"] < opts["max_requests"]
    assert opts["graceful_timeout"] > 0 and opts["timeout"] > 0
    assert opts["limit_request_line"] <= 4094 and opts["limit_request_fields"] <= 50
    # No access log, no trusted proxy headers, no control socket.
    assert opts["accesslog"] is None and opts["logger_class"] is QuietLogger
    assert opts["forwarded_allow_ips"] == "" and opts["control_socket_disable"] is True
    assert server_options("127.0.0.1", 8080, 2, 8081)["bind"] == ["127.0.0.1:8080", "127.0.0.1:8081"]
    # A stop sent while a worker is forked is held, then delivered to it (test_worker.py).
    assert opts["pre_fork"] is block_stops_for_fork and opts["post_fork"] is keep_stop_signals_sent_while_forking


def test_health_says_ok_and_nothing_else(app: Flask) -> None:
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_data() == b"ok\n"
    assert response.mimetype == "text/plain"
    assert response.headers["Cache-Control"] == "no-store"
    assert "script-src 'none'" in response.headers["Content-Security-Policy"]
    assert "Server" not in response.headers


def test_health_without_a_database_is_unavailable(settings: Settings) -> None:
    app = create_app(settings)
    settings.database.unlink()
    settings.database.mkdir()  # cannot be opened as a database file any more
    response = app.test_client().get("/healthz")
    assert response.status_code == 503 and response.get_data() == b"unavailable\n"


def _coordinator_paths(settings: Settings) -> list[str]:
    everything = create_app(settings)
    paths = [str(rule.rule).replace("<request_id>", "abc") for rule in everything.url_map.iter_rules()
             if str(rule.rule).startswith("/coordinator")]
    assert "/coordinator/login" in paths and "/coordinator/" in paths
    # Encoded and language-prefixed spellings too: none may find a way round.
    return [*paths, "/coordinator", "/coordinator/anything/else", "/%63oordinator/login", "/es/coordinator/login"]


def test_public_app_has_no_coordinator_pages(settings: Settings) -> None:
    public = create_app(settings, role="public").test_client()
    for path in _coordinator_paths(settings):
        assert public.get(path).status_code == 404, path
        assert public.post(path, data={"handle": "alice"}).status_code == 404, path
    assert public.get("/").status_code == 200
    # The public app's 404 pages link only to public pages.
    assert "/coordinator" not in public.get("/coordinator/login").get_data(as_text=True)
    with pytest.raises(ValueError):
        create_app(settings, role="coordinator")


def _raw_get(port: int, path: str, host: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", host)
        conn.endheaders()
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@pytest.mark.server
def test_two_ports_keep_coordinators_off_the_public_port(tmp_path: Path) -> None:
    settings = make_instance(tmp_path / "inst")
    add_coordinator(settings)
    coordinator_port = free_port()
    server = start_server(settings.instance, tmp_path / "logs", extra=("--coordinator-port", str(coordinator_port)))
    try:
        port = int(server.url.rsplit(":", 1)[1])
        public = Client(server.url)
        for path in _coordinator_paths(settings):
            assert public.get(path).status == 404, path
            assert public.post(path, {"handle": "alice", "passphrase": PASSPHRASE}).status == 404, path
            # A forged Host naming the coordinator port changes nothing: routing is by socket.
            assert _raw_get(port, path, f"127.0.0.1:{coordinator_port}") == 404, path
        home = public.get("/")
        assert home.status == 200 and "/coordinator" not in home.body
        assert "Strict-Transport-Security" not in home.headers
        assert "upgrade-insecure-requests" not in home.headers["Content-Security-Policy"]
        assert public.get("/healthz").body == "ok\n"

        coordinator = Client(f"http://127.0.0.1:{coordinator_port}")
        page = coordinator.get("/coordinator/login")
        assert page.status == 200
        login = coordinator.post("/coordinator/login", {"csrf_token": hidden(page.body, "csrf_token"),
                                                        "handle": "alice", "passphrase": PASSPHRASE})
        assert login.status == 303
        assert coordinator.get("/coordinator/").status == 200
        assert coordinator.get("/healthz").body == "ok\n"
    finally:
        server.stop()
    assert b"127.0.0.1" not in server.output().replace(b"127.0.0.1:", b"")


def _children(pid: int) -> set[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(p) for p in text.split()}


@pytest.mark.server
def test_sighup_replaces_workers_without_dropping_a_request(tmp_path: Path) -> None:
    settings = make_instance(tmp_path / "inst")
    server = start_server(settings.instance, tmp_path / "logs")
    try:
        client = Client(server.url)
        before = _children(server.process.pid)
        assert len(before) == 2
        os.kill(server.process.pid, signal.SIGHUP)
        deadline = time.monotonic() + 20
        statuses = []
        while time.monotonic() < deadline:
            statuses.append(client.get("/healthz").status)
            now = _children(server.process.pid)
            if len(now) == 2 and not now & before:
                break
            time.sleep(0.05)
        assert not _children(server.process.pid) & before, "old workers still running"
        assert statuses and set(statuses) == {200}
        assert client.get("/").status == 200
    finally:
        server.stop()
    assert server.process.returncode == 0


@pytest.mark.server
def test_a_connection_opened_just_before_a_reload_is_answered_not_reset(tmp_path: Path) -> None:
    """A client on a loaded phone connects, then sends its request a moment later: if a reload
    (SIGHUP) stops the worker that accepted it meanwhile, the request is still answered."""
    settings = make_instance(tmp_path / "inst")
    server = start_server(settings.instance, tmp_path / "logs")
    try:
        port = int(server.url.rsplit(":", 1)[1])
        waiting = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(4)]
        time.sleep(0.3)  # accepted by the workers, nothing sent yet
        os.kill(server.process.pid, signal.SIGHUP)
        time.sleep(1.5)  # the old workers are stopping
        for sock in waiting:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answers = []
        for sock in waiting:
            with sock:
                try:
                    answers.append(sock.recv(100)[:15])
                except ConnectionResetError:
                    answers.append(b"reset")
        assert answers == [b"HTTP/1.1 200 OK"] * 4
    finally:
        server.stop()
    assert server.process.returncode == 0


def test_onion_location_only_when_configured(settings: Settings, tmp_path: Path) -> None:
    plain = create_app(settings).test_client().get("/status")
    assert "Onion-Location" not in plain.headers
    config = settings.instance / "config.toml"
    onion = "b" * 56
    config.write_text(config.read_text().replace('onion_location = ""', f'onion_location = "{onion}.onion"'))

    mirrored = create_app(load_settings(settings.instance)).test_client()
    page = mirrored.get("/status?x=1")
    assert page.headers["Onion-Location"] == f"http://{onion}.onion/status"
    assert "Onion-Location" not in mirrored.get("/healthz").headers  # pages only
    config.write_text(config.read_text().replace(f"{onion}.onion", "example.org"))
    with pytest.raises(ConfigError):
        load_settings(settings.instance)


def test_coordinator_port_must_differ(tmp_path: Path) -> None:
    settings = make_instance(tmp_path / "inst")
    done = run_aidnet("serve", "--instance", str(settings.instance), "--port", "18080", "--coordinator-port", "18080")
    assert done.returncode == 1 and done.stderr.strip() == "aidnet: --coordinator-port must differ from --port"


def test_security_headers_come_once_on_every_kind_of_response(app: Flask) -> None:
    client = app.test_client()
    for path, cache in (("/", "no-store"), ("/no/such/page", "no-store"), ("/es/", "no-store"),
                        ("/static/style.css", "public, max-age=86400"), ("/es/static/style.css", "public, max-age=86400")):
        response = client.get(path)
        headers = list(response.headers.items())
        for name in ("Content-Security-Policy", "Cache-Control", "X-Frame-Options", "Referrer-Policy"):
            assert [n for n, _ in headers].count(name) == 1, (path, name)
        assert response.headers["Cache-Control"] == cache, path
        assert "script-src 'none'" in response.headers["Content-Security-Policy"]
        response.close()
