"""The `aidnet` command as an operator uses it: init, coordinator add, serve, demo."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
from helpers.cli import run_aidnet
from helpers.live import Client, aidnet_command, free_port
from helpers.pages import hidden

from aidnet.cli.main import build_parser


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
        assert f"http://localhost:{port}/" in text
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
