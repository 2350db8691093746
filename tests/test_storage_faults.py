"""Disk full and a read-only instance folder: a clear "try again later", nothing half-written, recovery.

The instance lives on its own small tmpfs (mounted here; the suite runs as
root), so "full" and "read-only" are the kernel's own ENOSPC and EROFS, not
a mock. The same form, sent again once space returns, is accepted: nothing
of the refused attempt (not even its form nonce) was kept.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from helpers.instance import add_coordinator, make_instance
from helpers.live import start_server
from helpers.loadtools import Requester
from helpers.pages import request_form

from aidnet.config import Settings
from aidnet.store import counters, open_store
from aidnet.store import requests as request_rows
from aidnet.web.app import create_app

pytestmark = pytest.mark.server  # real filesystem faults: needs root for mount


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    assert os.geteuid() == 0, "these tests mount a small tmpfs and must run as root (tests/run.sh does)"
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def _app(settings: Settings) -> FlaskClient:
    app = create_app(settings)
    app.config["TESTING"] = True
    return app.test_client()


def _fill(disk: Path, leave: int) -> Path:
    """Take all but about `leave` free bytes of the disk with one file; returns it."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
        os.ftruncate(fd, max(os.fstat(fd).st_size - leave, 0))
    finally:
        os.close(fd)
    return filler


def _counts(settings: Settings) -> tuple[int, int, int]:
    store = open_store(settings)
    try:
        requests = request_rows.count(store)
        received = sum(n for *_, event, n in counters.all_counters(store) if event == "received")
        forms = int(store.conn.execute("SELECT count(*) FROM used_forms").fetchone()[0])
        assert store.integrity_ok()
        return requests, received, forms
    finally:
        store.close()


def _assert_try_again(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 503
    html = response.get_data(as_text=True)
    assert "Please try again later" in html
    assert "Nothing was kept" in html
    assert "Traceback" not in html and "sqlcipher" not in html.lower()


def test_disk_full_refuses_cleanly_and_recovers(small_disk: Path) -> None:
    settings = make_instance(small_disk / "instance")
    add_coordinator(settings)
    client = _app(settings)
    filler = _fill(small_disk, leave=96 * 1024)
    accepted, refused = 0, None
    for _ in range(300):  # the WAL may still have room for a few; then the disk is really full
        form = request_form(client)
        response = client.post("/", data=form)
        if response.status_code == 201:
            accepted += 1
            continue
        _assert_try_again(response)
        refused = form
        break
    assert refused is not None, "the disk never filled"
    filler.unlink()  # space returns
    # Only what was acknowledged is stored: the refused request left no row, counter or nonce.
    assert _counts(settings) == (accepted, accepted, accepted)
    # The very same form (same nonce) is now accepted: it was not half-kept as "already received".
    assert client.post("/", data=refused).status_code == 201
    assert client.post("/", data=request_form(client)).status_code == 201
    assert _counts(settings) == (accepted + 2,) * 3


def test_read_only_instance_folder_refuses_cleanly_and_recovers(small_disk: Path) -> None:
    settings = make_instance(small_disk / "instance")
    add_coordinator(settings)
    client = _app(settings)
    assert client.post("/", data=request_form(client)).status_code == 201
    form = request_form(client)
    # The server thread's kept-open connection is let go first: Linux refuses to remount
    # read-only under a file open for writing (the folder turns read-only between requests).
    pool = client.application.extensions["aidnet_store_pool"]
    pool.store.close()
    pool.store = None
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        _assert_try_again(client.post("/", data=form))
        _assert_try_again(client.post("/", data=form))
        assert client.get("/").status_code == 200  # the form itself still shows
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert _counts(settings) == (1, 1, 1)
    assert client.post("/", data=form).status_code == 201
    assert _counts(settings) == (2, 2, 2)


def test_disk_full_under_a_live_server(small_disk: Path, tmp_path: Path) -> None:
    """The same through `aidnet serve`: its threads keep connections open across the fault."""
    settings = make_instance(small_disk / "instance")
    add_coordinator(settings)
    server = start_server(settings.instance, tmp_path / "logs")
    person = Requester(lambda: server.url)
    try:
        assert person.submit("before the disk fills")[0] == 201
        filler = _fill(small_disk, leave=96 * 1024)
        statuses = []
        for n in range(300):
            status, codename, _ = person.submit(f"while full {n}")
            statuses.append(status)
            if status != 201:
                break
        assert statuses[-1] == 503 and set(statuses) <= {201, 503}, statuses
        filler.unlink()
        assert person.submit("after space returns")[0] == 201
    finally:
        person.close()
        server.stop()
    accepted = statuses.count(201) + 2
    assert _counts(settings) == (accepted,) * 3
    assert b"Traceback" not in server.output()
