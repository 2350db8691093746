"""16 requesters send requests through the real forms of `aidnet serve` for 30 s.

Every receipt handed out must be a stored request that opens with the
coordinator's key and holds exactly what was sent; no page may be a 5xx.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from helpers.instance import PASSPHRASE, add_coordinator, make_instance
from helpers.live import start_server
from helpers.loadtools import LoadResult, atomic_counts, coordinator_keys, integrity_ok, run_load, unreadable_receipts

from aidnet.store import open_store
from aidnet.store import requests as request_rows

pytestmark = [pytest.mark.server, pytest.mark.serial]

CLIENTS = 16
SECONDS = float(os.environ.get("AIDNET_LOAD_SECONDS", "30"))


def test_sixteen_clients_every_receipt_is_stored_and_opens(tmp_path: Path) -> None:
    settings = make_instance(tmp_path / "instance")
    add_coordinator(settings)
    server = start_server(settings.instance, tmp_path / "logs")
    result, stop = LoadResult(), threading.Event()
    try:
        threads = run_load(lambda: server.url, CLIENTS, stop, result)
        time.sleep(SECONDS)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads)
    finally:
        stop.set()
        server.stop()
    assert result.server_errors == 0, result.statuses
    assert result.connection_errors == 0
    assert set(result.statuses) == {201}, result.statuses
    assert len(result.receipts) >= 10 * SECONDS  # it really was under load (≥10 a second on 2 shared cores)
    assert unreadable_receipts(settings, coordinator_keys(settings, "alice", PASSPHRASE), result.receipts) == []
    store = open_store(settings)
    try:
        # No submission was kept without its receipt reaching the requester, and none twice.
        assert request_rows.count(store) == len(result.receipts)
    finally:
        store.close()
    assert atomic_counts(settings) == (len(result.receipts),) * 3
    assert integrity_ok(settings)
    assert b"Traceback" not in server.output()
