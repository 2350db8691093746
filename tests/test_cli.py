"""The `aidnet` command as an operator uses it: init, coordinator add, serve, demo."""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import socket
import stat
import subprocess
import termios
import time
from pathlib import Path

import pytest
from helpers.cli import run_aidnet
from helpers.instance import make_instance
from helpers.live import Client, aidnet_command, free_port
from helpers.pages import hidden

from aidnet.cli.main import build_parser
from aidnet.serve import server
from aidnet.store import open_store


def test_init_makes_private_files_and_refuses_twice(tmp_path: Path) -> None:
    instance = tmp_path / "inst"
    done = run_aidnet("init", "--instance", str(instance))
    assert done.returncode == 0, done.stderr
    assert "created database" in done.stdout
    for name in ("config.toml", "secrets.toml", "db.key", "aidnet.db"):
        mode = stat.S_IMODE((instance / name).stat().st_mode)
        assert mode == 0o600, f"{name} is {oct(mode)}"
    again = run_aidnet("init", "--instance", str(instance))
    assert again.returncode == 1
    assert again.stderr.startswith("aidnet: ") and len(again.stderr.strip().splitlines()) == 1


def test_coordinator_add_from_file_and_stdin(tmp_path: Path) -> None:
    instance = tmp_path / "inst"
    run_aidnet("init", "--instance", str(instance))
    secret = tmp_path / "pass.txt"
    secret.write_text("a passphrase long enough\n")
    added = run_aidnet("coordinator", "add", "alice", "--passphrase-file", str(secret), "--instance", str(instance))
    assert added.returncode == 0, added.stderr
    assert "added founding coordinator alice" in added.stdout
    via_stdin = run_aidnet("coordinator", "add", "bob", "--passphrase-file", "-", stdin="another long passphrase\n",
                    env={"AIDNET_INSTANCE": str(instance)})
    assert via_stdin.returncode == 0, via_stdin.stderr
    duplicate = run_aidnet("coordinator", "add", "bob", "--passphrase-file", "-", stdin="another long passphrase\n",
                    env={"AIDNET_INSTANCE": str(instance)})
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    short = run_aidnet("coordinator", "add", "carol", "--passphrase-file", "-", "--instance", str(instance), stdin="short\n")
    assert short.returncode == 1 and "at least 12" in short.stderr
    bad = run_aidnet("coordinator", "add", "no spaces!", "--passphrase-file", "-", "--instance", str(instance),
              stdin="a passphrase long enough\n")
    assert bad.returncode == 1 and "handle" in bad.stderr


def test_missing_instance_gives_one_line_reason(tmp_path: Path) -> None:
    for args in (("serve",), ("coordinator", "add", "x", "--passphrase-file", "-")):
        done = run_aidnet(*args, "--instance", str(tmp_path / "nothing"), stdin="a passphrase long enough\n")
        assert done.returncode == 1
        assert "no instance at" in done.stderr and "aidnet init" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


def test_demo_prints_a_working_passphrase(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "demo.out"
    with out.open("wb") as sink:
        process = subprocess.Popen([*aidnet_command(), "demo", "--instance", str(tmp_path / "demo"), "--port", str(port)],
                                   stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while "serving" not in out.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, out.read_text()
            time.sleep(0.1)
        text = out.read_text()
        passphrase = re.search(r"passphrase \(shown once\):\n\s+([a-z ]+)\n", text).group(1)
        assert f"open http://localhost:{port}/ to ask for help" in text  # what to do next, not "coordinator add"
        assert f"http://localhost:{port}/coordinator/" in text and "next: aidnet coordinator add" not in text
        client = Client(f"http://127.0.0.1:{port}")
        for _ in range(100):
            try:
                page = client.get("/coordinator/login").body
                break
            except OSError:
                time.sleep(0.1)
        response = client.post("/coordinator/login", {"csrf_token": hidden(page, "csrf_token"), "handle": "demo",
                                                      "passphrase": passphrase})
        assert response.status == 303
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)


@pytest.mark.parametrize("host", ["127.0.0.1"])
def test_serve_binds_loopback_by_default(host: str) -> None:
    args = build_parser().parse_args(["serve"])
    assert args.host == host and args.instance == Path(os.environ.get("AIDNET_INSTANCE", "instance"))


def test_a_taken_port_is_said_at_once_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        done = run_aidnet("demo", "--instance", str(tmp_path / "demo"), "--port", str(port))
    assert time.monotonic() - started < 20  # gunicorn alone retried for seconds before giving up
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"aidnet: port {port} is in use (another server is listening there): "
                                                "choose another with --port"]


def test_passphrases_without_a_terminal_say_how_to_give_one(tmp_path: Path) -> None:
    instance = tmp_path / "inst"
    run_aidnet("init", "--instance", str(instance))
    for args in (("coordinator", "add", "ana", "--instance", str(instance)),
                 ("keyholder", "keygen", "--handle", "olu", "--out", str(tmp_path / "olu.key"))):
        done = subprocess.run([*aidnet_command(), *args], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert done.stderr.strip().splitlines() == [
            "aidnet: no terminal to ask for a passphrase on: give it with --passphrase-file FILE "
            "(or --passphrase-file - to read it from standard input)"]
    assert not (tmp_path / "olu.key").exists()


def test_keygen_asks_for_the_passphrase_twice(tmp_path: Path) -> None:
    typed = terminal_session([*aidnet_command(), "keyholder", "keygen", "--handle", "olu", "--out", str(tmp_path / "k")],
                             ["a long keyholder passphrase", "another one, mistyped"])
    assert typed.count("assphrase") >= 2 and "the two passphrases differ" in typed
    assert not (tmp_path / "k").exists()
    typed = terminal_session([*aidnet_command(), "keyholder", "keygen", "--handle", "olu", "--out", str(tmp_path / "k")],
                             ["a long keyholder passphrase", "a long keyholder passphrase"])
    assert "member card" in typed and (tmp_path / "k").exists()


def terminal_session(argv: list[str], answers: list[str]) -> str:
    """Run argv on a terminal of its own, typing each answer at the next passphrase prompt; all it printed."""
    master, slave = os.openpty()
    process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                               preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    os.close(slave)
    seen, deadline = b"", time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                seen += chunk
                if answers and re.search(rb"[Pp]assphrase[^\n]*: $", seen):
                    os.write(master, answers.pop(0).encode() + b"\n")
                    seen += b"\n"
            elif process.poll() is not None:
                break
        process.wait(timeout=30)
    finally:
        os.close(master)
    return seen.decode("utf-8", "replace")


def test_export_verify_away_from_an_instance_asks_for_the_publishing_key(tmp_path: Path) -> None:
    (tmp_path / "aidnet-2026-W40.json").write_text("{}")
    done = subprocess.run([*aidnet_command(), "export", "verify", "aidnet-2026-W40.json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, env={k: v for k, v in os.environ.items()
                                                                          if k != "AIDNET_INSTANCE"})
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "aidnet: give the group's publishing key with --public-key HEX (it is on the group's transparency page)"]


def test_onion_client_writes_the_auth_file_where_it_is_told(tmp_path: Path) -> None:
    helped = run_aidnet("onion-client", "--help")
    assert "--auth-dir" in helped.stdout and "authorized_clients" in helped.stdout
    folder = tmp_path / "authorized_clients"
    folder.mkdir()
    made = run_aidnet("onion-client", "sam", "--auth-dir", str(folder))
    assert made.returncode == 0, made.stderr
    written = folder / "sam.auth"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert re.fullmatch(r"descriptor:x25519:[A-Z2-7]{52}\n", written.read_text())
    assert written.read_text().strip() not in made.stdout  # the public line is in the file; the private key printed
    again = run_aidnet("onion-client", "sam", "--auth-dir", str(folder))
    assert again.returncode == 1 and "exists already" in again.stderr


def test_long_work_says_how_far_it_has_got_in_plain_lines(tmp_path: Path) -> None:
    settings = make_instance(tmp_path / "inst")
    with open_store(settings) as store:
        store.migrate()
        with store.write() as tx:  # more rows than one batch of the copy
            tx.executemany("INSERT INTO used_forms (nonce_hash, expires_day) VALUES (?, 9)",
                           [(i.to_bytes(4, "big") * 8,) for i in range(5000)])
    done = run_aidnet("backup", str(tmp_path / "b.aidbk"), "--instance", str(settings.instance),
                      "--key-file", str(tmp_path / "keys" / "backup.key"))
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("copying rows: ")]
    assert len(lines) >= 2 and lines[-1].startswith("copying rows: 5,") and "\r" not in done.stderr


def test_serve_takes_back_the_signals_a_background_shell_ignores(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen = {}
    monkeypatch.setattr(server.AidnetServer, "run", lambda self: seen.update(
        quit=signal.getsignal(signal.SIGQUIT), interrupt=signal.getsignal(signal.SIGINT)))
    old = signal.signal(signal.SIGQUIT, signal.SIG_IGN), signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        server.serve(make_instance(tmp_path / "inst"), "127.0.0.1", free_port())
    finally:
        signal.signal(signal.SIGQUIT, old[0])
        signal.signal(signal.SIGINT, old[1])
    assert seen == {"quit": signal.SIG_DFL, "interrupt": signal.default_int_handler}
