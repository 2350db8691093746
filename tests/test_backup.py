"""`aidnet backup` while serving, `aidnet restore`, `aidnet rekey`: real files, real server, real decryption."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlcipher3
from helpers.cli import run_aidnet
from helpers.instance import PASSPHRASE, add_coordinator, make_instance, send_reply
from helpers.live import Client, start_server
from helpers.pages import Auth, codename_from, hidden, request_form

from aidnet.config import ConfigError, Settings, load_settings
from aidnet.records import conversation, requests
from aidnet.store import StorageError, Store, backup, open_store
from aidnet.store import accounts as account_rows
from aidnet.store import requests as request_rows
from aidnet.store.connection import connect
from aidnet.web.app import create_app

NEED = "Nappies size 4 and formula for twins"


def _submit(client: Client, need: str) -> str:
    page = client.get("/").body
    reply = client.post("/", {"csrf_token": hidden(page, "csrf_token"), "form_nonce": hidden(page, "form_nonce"),
                              "category": "food", "area": "north", "need": need, "contact": "",
                              "urgency": "this_week"})
    assert reply.status == 201, reply.status
    return codename_from(reply.body)


def _inbox_and_status(settings: Settings, codename: str) -> tuple[str, int]:
    app = create_app(settings)
    app.config["TESTING"] = True
    client = app.test_client()
    assert Auth(client).login().status_code == 303
    inbox = ""
    for number in range(1, 50):  # every inbox page, oldest last
        page_html = client.get(f"/coordinator/?page={number}").get_data(as_text=True)
        inbox += page_html
        if f"page={number + 1}" not in page_html:
            break
    page = client.get("/status").get_data(as_text=True)
    status = client.post("/status", data={"csrf_token": hidden(page, "csrf_token"), "codename": codename})
    return inbox, status.status_code


@pytest.mark.server
def test_backup_while_serving_then_restore_opens_the_request(tmp_path: Path) -> None:
    settings = make_instance(tmp_path / "live")
    add_coordinator(settings)
    server = start_server(settings.instance, tmp_path / "logs")
    stop = threading.Event()
    receipts: list[str] = []
    try:
        client = Client(server.url)
        codename = _submit(client, NEED)
        assert backup.server_running(settings.instance)  # gunicorn's pid file: restore would refuse now

        def keep_submitting() -> None:  # writers keep going while the snapshot is taken
            writer = Client(server.url)
            while not stop.is_set() and len(receipts) < 200:
                receipts.append(_submit(writer, "Bread, please"))

        thread = threading.Thread(target=keep_submitting)
        thread.start()
        try:
            done = run_aidnet("backup", str(tmp_path / "snap.aidbk"), "--instance", str(settings.instance))
        finally:
            stop.set()
            thread.join(timeout=60)
        assert done.returncode == 0, done.stderr
        assert "copy it somewhere safe OFF this machine" in done.stdout
        assert receipts, "no submission ran during the backup"
    finally:
        server.stop()
    assert not backup.server_running(settings.instance)

    raw = (tmp_path / "snap.aidbk").read_bytes()
    assert NEED.encode() not in raw and b"SQLite format 3" not in raw and b"secret_key" not in raw
    key_file = settings.instance / "backup.key"
    for private in (key_file, tmp_path / "snap.aidbk"):
        assert oct(private.stat().st_mode & 0o777) == "0o600", private
    assert not list(tmp_path.glob("*.part"))

    # Restore onto a new machine: only the backup file and the backup key travel.
    restored = tmp_path / "elsewhere" / "inst"
    done = run_aidnet("restore", str(tmp_path / "snap.aidbk"), "--instance", str(restored), "--key-file", str(key_file))
    assert done.returncode == 0, done.stderr
    new = load_settings(restored)
    assert new.db_key != settings.db_key and new.codename_salt == settings.codename_salt
    for name in ("config.toml", "secrets.toml", "db.key", "aidnet.db", "genesis.pin"):
        assert oct((restored / name).stat().st_mode & 0o777) == "0o600", name
    # The genesis pin travels with the backup, so the restored log is still checked against it.
    assert (restored / "genesis.pin").read_text() == (settings.instance / "genesis.pin").read_text()
    store = open_store(new)
    try:
        assert store.integrity_ok()
        assert request_rows.count(store) >= 1
        tables = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "aidnet_backup" not in tables
    finally:
        store.close()
    inbox, status = _inbox_and_status(new, codename)
    assert NEED in inbox  # opened with the coordinator's key, after a restore
    assert status == 200  # and the requester's codename still finds it


def test_backup_refusals_and_wrong_key(tmp_path: Path, settings: Settings) -> None:
    target = tmp_path / "b.aidbk"
    assert run_aidnet("backup", str(target), "--instance", str(settings.instance)).returncode == 0
    again = run_aidnet("backup", str(target), "--instance", str(settings.instance))
    assert again.returncode == 1 and "not overwriting" in again.stderr
    wrong = tmp_path / "wrong.key"
    wrong.write_text(os.urandom(32).hex())
    bad = run_aidnet("restore", str(target), "--instance", str(tmp_path / "new"), "--key-file", str(wrong))
    assert bad.returncode == 1 and "wrong backup key" in bad.stderr and len(bad.stderr.splitlines()) == 1
    assert not (tmp_path / "new" / "aidnet.db").exists()
    busy = run_aidnet("restore", str(target), "--instance", str(settings.instance))
    assert busy.returncode == 1 and "--replace" in busy.stderr
    # A live server (its pid file names a running aidnet) blocks restore and rekey.
    stand_in = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "aidnet"])
    try:
        (settings.instance / backup.PID_FILE).write_text(f"{stand_in.pid}\n")
        for args in (("restore", str(target), "--replace"), ("rekey",)):
            done = run_aidnet(*args, "--instance", str(settings.instance))
            assert done.returncode == 1 and "stop it first" in done.stderr, args
    finally:
        stand_in.kill()
        stand_in.wait()
    # A pid file left by a killed server does not block anything.
    assert run_aidnet("restore", str(target), "--replace", "--instance", str(settings.instance)).returncode == 0


def test_rekey_rotates_the_database_key(tmp_path: Path, settings: Settings) -> None:
    app = create_app(settings)
    app.config["TESTING"] = True
    client = app.test_client()
    codename = codename_from(client.post("/", data=request_form(client, need=NEED)).get_data(as_text=True))
    old_key = settings.db_key
    stale = open_store(settings)  # a timer opened before the rekey
    done = run_aidnet("rekey", "--instance", str(settings.instance))
    assert done.returncode == 0, done.stderr
    with pytest.raises(StorageError, match="replaced"):  # its write would be lost: refused instead
        with stale.write() as tx:
            tx.execute("UPDATE counters SET count = count + 1")
    stale.close()
    new = load_settings(settings.instance)
    assert new.db_key != old_key
    with pytest.raises(StorageError):
        connect(new.database, old_key)
    inbox, status = _inbox_and_status(new, codename)
    assert NEED in inbox and status == 200
    assert not list(settings.instance.glob("*.next"))


def test_interrupted_rekey_is_finished_by_a_rerun(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    real_replace = os.replace

    def crash_on_key(src: str | Path, dst: str | Path) -> None:
        if Path(dst).name == "db.key":
            raise OSError("power cut")  # the database was swapped, the key file not yet
        real_replace(src, dst)

    monkeypatch.setattr(backup.os, "replace", crash_on_key)
    with pytest.raises(OSError):
        backup.rekey(settings)
    monkeypatch.setattr(backup.os, "replace", real_replace)
    with pytest.raises(StorageError):
        connect(settings.database, load_settings(settings.instance).db_key)
    assert backup.rekey(load_settings(settings.instance)) is True
    new = load_settings(settings.instance)
    store = open_store(new)
    try:
        assert store.integrity_ok() and account_rows.by_handle(store, "alice") is not None
    finally:
        store.close()
    assert PASSPHRASE  # the coordinator's passphrase is unchanged by a rekey


def test_a_restore_cut_off_midway_starts_nothing_and_a_rerun_finishes_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, settings: Settings) -> None:
    client = create_app(settings).test_client()
    reply = client.post("/", data=request_form(client, need=NEED))
    assert reply.status_code == 201
    codename = codename_from(reply.get_data(as_text=True))
    key, _ = backup.backup_key(tmp_path / "backup.key", create=True)
    backup.write_backup(settings, tmp_path / "snap.aidbk", key)
    before = {name: (settings.instance / name).read_bytes() for name in ("secrets.toml", "aidnet.db")}

    # Cut off while staging: the instance is as it was, nothing staged is left behind.
    def broken_export(*_args: object, **_kwargs: object) -> None:
        raise sqlcipher3.OperationalError("disk full")

    with monkeypatch.context() as m:
        m.setattr(backup, "export_into", broken_export)
        with pytest.raises(backup.BackupError):
            backup.restore_backup(tmp_path / "snap.aidbk", key, settings.instance, replace=True)
    assert not list(settings.instance.glob("*.restore")) and not (settings.instance / "restore.pending").exists()
    assert {name: (settings.instance / name).read_bytes() for name in before} == before
    load_settings(settings.instance)

    # Killed while staging (not a clean failure): the marker stays, so nothing starts on it.
    def killed(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(backup, "export_into", killed)
        with pytest.raises(KeyboardInterrupt):
            backup.restore_backup(tmp_path / "snap.aidbk", key, settings.instance, replace=True)
    assert (settings.instance / "restore.pending").exists()
    with pytest.raises(ConfigError, match="interrupted"):
        load_settings(settings.instance)

    # Cut off while swapping files in: the secrets are the backup's, the database not yet.
    real_replace = os.replace

    def cut_at_database(src: str | Path, dst: str | Path) -> None:
        if Path(dst).name == "aidnet.db":
            raise OSError("power cut")
        real_replace(src, dst)

    with monkeypatch.context() as m:
        m.setattr(backup.os, "replace", cut_at_database)
        with pytest.raises(OSError):
            backup.restore_backup(tmp_path / "snap.aidbk", key, settings.instance, replace=True)
    with pytest.raises(ConfigError, match="interrupted"):
        load_settings(settings.instance)  # so neither the server nor any command starts on a mix
    refused = run_aidnet("serve", "--instance", str(settings.instance))
    assert refused.returncode != 0 and "interrupted" in refused.stderr

    backup.restore_backup(tmp_path / "snap.aidbk", key, settings.instance, replace=True)
    assert not list(settings.instance.glob("*.restore")) and not (settings.instance / "restore.pending").exists()
    inbox, status = _inbox_and_status(load_settings(settings.instance), codename)
    assert NEED in inbox and status == 200


def test_a_restored_copy_holds_every_table_index_and_row(tmp_path: Path, settings: Settings) -> None:
    """The copy is made table by table (so it can show progress): nothing may be left out."""
    with open_store(settings) as store:
        codename = requests.submit_request(store, settings, requests.RequestDetails("food", "north", "rice", "", "today"),
                                           "nonce-copy-xxxxxxxxxxx")
        row = request_rows.page(store, 0, 1)[0]
        assert send_reply(store, settings, row.id.hex(), "a reply")
        assert conversation.answer(store, settings, codename, "an answer", "nonce-copy-answer-xxxxx")
        with store.write() as tx:  # enough rows to be reported along the way, in a table with a rowid and one without
            tx.executemany("INSERT INTO used_forms (nonce_hash, expires_day) VALUES (?, 9)",
                           [(bytes([i % 256, i // 256]) * 16,) for i in range(20_007)])
            tx.executemany("INSERT INTO throttle (key, window, count) VALUES (?, 1, 1)",
                           [(bytes([i % 256, i // 256]) * 8,) for i in range(backup.TRANSFER_REPORT_ROWS + 3)])
        before = _everything(store)
    key, _ = backup.backup_key(tmp_path / "backup.key", create=True)
    seen: list[tuple[int, int]] = []
    backup.write_backup(settings, tmp_path / "copy.aidbk", key, lambda done, total: seen.append((done, total)))
    assert seen[-1][0] == seen[-1][1] and len({done for done, _ in seen}) > 3  # how far it had got, more than once
    assert all(a <= b for (a, _), (b, _) in zip(seen, seen[1:], strict=False))  # and never went back
    restored = backup.restore_backup(tmp_path / "copy.aidbk", key, tmp_path / "restored", replace=False)
    with open_store(restored) as store:
        assert _everything(store) == before


def _everything(store: Store) -> dict[str, object]:
    schema = sorted(tuple(r) for r in store.conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_autoindex%'"))
    tables = [r[1] for r in schema if r[0] == "table"]
    return {"schema": schema, "version": store.conn.execute("PRAGMA user_version").fetchone()[0],
            **{t: sorted(map(tuple, store.conn.execute(f'SELECT * FROM "{t}"')), key=repr) for t in tables}}
