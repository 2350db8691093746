"""kill -9 the server (master and workers) at random moments under load, several times.

After every restart, and at the end, every request that got a receipt must be
stored, open with the coordinator's key and hold what was sent; the database
must pass integrity_check.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path

import pytest
from helpers.instance import PASSPHRASE, add_coordinator, make_instance
from helpers.live import LiveServer, start_server
from helpers.loadtools import LoadResult, atomic_counts, coordinator_keys, integrity_ok, run_load, unreadable_receipts

pytestmark = [pytest.mark.server, pytest.mark.serial]

CLIENTS = 16
CRASHES = 4


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _kill_at_random(server: LiveServer, rng: random.Random) -> None:
    """Sometimes one worker first (the master forks a new one), then the whole group at once."""
    workers = _children(server.process.pid)
    if workers and rng.random() < 0.5:
        os.kill(rng.choice(workers), signal.SIGKILL)
        time.sleep(rng.uniform(0.05, 1.0))
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=10)


def test_kill_minus_nine_under_load_loses_no_receipted_request(tmp_path: Path) -> None:
    settings = make_instance(tmp_path / "instance")
    add_coordinator(settings)
    keys = coordinator_keys(settings, "alice", PASSPHRASE)
    rng = random.Random()  # noqa: S311  # random moments, not secrets
    current = {"server": start_server(settings.instance, tmp_path / "logs")}
    result, stop = LoadResult(), threading.Event()
    threads = run_load(lambda: current["server"].url, CLIENTS, stop, result, tag="crash")
    counts = []
    try:
        for _ in range(CRASHES):
            time.sleep(rng.uniform(1.5, 5.0))
            _kill_at_random(current["server"], rng)
            counts.append(len(result.receipts))
            assert integrity_ok(settings)
            current["server"] = start_server(settings.instance, tmp_path / "logs")
        time.sleep(rng.uniform(1.0, 3.0))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        current["server"].stop()
    assert counts[0] > 0 and counts[-1] > counts[0]  # receipts kept coming across restarts
    assert result.server_errors == 0, result.statuses
    assert result.connection_errors > 0  # the kills really cut requests off mid-flight
    assert unreadable_receipts(settings, keys, result.receipts) == []
    assert integrity_ok(settings)
    # Nothing half-written: every kept request came with its counter and its form nonce, and
    # at most the few in flight at each kill were kept without their receipt arriving.
    requests, received, forms = atomic_counts(settings)
    assert requests == received == forms
    assert len(result.receipts) <= requests <= len(result.receipts) + CRASHES * CLIENTS
