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
from helpers.live import Client, aidnet_command, start_server
from helpers.pages import Auth, codename_from, hidden, request_form

from aidnet import dates
from aidnet.cli.ops import longest_retention
from aidnet.config import ConfigError, Settings, load_settings
from aidnet.records import conversation, coordinators, requests
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
            done = run_aidnet("backup", str(tmp_path / "snap.aidbk"), "--instance", str(settings.instance),
                              "--key-file", str(tmp_path / "keys" / "backup.key"))
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
    key_file = tmp_path / "keys" / "backup.key"
    assert not (settings.instance / "backup.key").exists()  # never left beside the database
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
    key_file = str(tmp_path / "keys" / "backup.key")
    assert run_aidnet("backup", str(target), "--instance", str(settings.instance), "--key-file", key_file).returncode == 0
    again = run_aidnet("backup", str(target), "--instance", str(settings.instance), "--key-file", key_file)
    assert again.returncode == 1 and "not overwriting" in again.stderr
    wrong = tmp_path / "wrong.key"
    wrong.write_text(os.urandom(32).hex())
    bad = run_aidnet("restore", str(target), "--instance", str(tmp_path / "new"), "--key-file", str(wrong))
    assert bad.returncode == 1 and "wrong backup key" in bad.stderr and len(bad.stderr.splitlines()) == 1
    assert not (tmp_path / "new" / "aidnet.db").exists()
    busy = run_aidnet("restore", str(target), "--instance", str(settings.instance), "--key-file", key_file)
    assert busy.returncode == 1 and "--replace" in busy.stderr
    # A live server (its pid file names a running aidnet) blocks restore and rekey.
    stand_in = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "aidnet"])
    try:
        (settings.instance / backup.PID_FILE).write_text(f"{stand_in.pid}\n")
        for args in (("restore", str(target), "--replace", "--key-file", key_file), ("rekey",)):
            done = run_aidnet(*args, "--instance", str(settings.instance))
            assert done.returncode == 1 and "stop it first" in done.stderr, args
    finally:
        stand_in.kill()
        stand_in.wait()
    # A pid file left by a killed server does not block anything.
    assert run_aidnet("restore", str(target), "--replace", "--instance", str(settings.instance),
                      "--key-file", key_file).returncode == 0


def test_rekey_rotates_the_database_key(tmp_path: Path, settings: Settings) -> None:
    app = create_app(settings)
    app.config["TESTING"] = True
    client = app.test_client()
    codename = codename_from(client.post("/", data=request_form(client, need=NEED)).get_data(as_text=True))
    old_key = settings.db_key
    stale = open_store(settings)  # a timer opened before the rekey
    done = run_aidnet("rekey", "--instance", str(settings.instance))
    assert done.returncode == 0, done.stderr
    # One line per secret: what was rotated, and what was not and why.
    said = {line.split(":")[0]: line for line in done.stdout.splitlines() if not line.startswith(" ")}
    assert said["db.key"].startswith("db.key: rotated")
    for secret in ("backup.key", "export.key", "secrets.toml", "coordinators' keys and passphrases", "onion keys"):
        assert said[secret].startswith(f"{secret}: not rotated (") and said[secret].endswith(")"), secret
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


def test_a_request_a_coordinator_handles_is_backed_up_and_restored(tmp_path: Path, settings: Settings) -> None:
    """requests.handler refers to coordinators, a table made after requests: copied in that order, the rows
    of a claimed request came before the account they name, and the foreign key refused the whole backup."""
    with open_store(settings) as store:
        requests.submit_request(store, settings, requests.RequestDetails("food", "north", "rice", "", "today"),
                                "nonce-claimed-xxxxxxxxxx")
        row = request_rows.page(store, 0, 1)[0]
        alice = account_rows.by_handle(store, "alice")
        assert alice is not None
        with store.write() as tx:
            assert request_rows.set_handler(tx, row.id, alice.id)
        before = _everything(store)
    key, _ = backup.backup_key(tmp_path / "backup.key", create=True)
    backup.write_backup(settings, tmp_path / "claimed.aidbk", key)
    restored = backup.restore_backup(tmp_path / "claimed.aidbk", key, tmp_path / "restored", replace=False)
    with open_store(restored) as store:
        assert _everything(store) == before
        assert request_rows.page(store, 0, 1)[0].handler == alice.id
        assert store.conn.execute("PRAGMA foreign_key_check").fetchall() == []


def _everything(store: Store) -> dict[str, object]:
    schema = sorted(tuple(r) for r in store.conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_autoindex%'"))
    tables = [r[1] for r in schema if r[0] == "table"]
    return {"schema": schema, "version": store.conn.execute("PRAGMA user_version").fetchone()[0],
            **{t: sorted(map(tuple, store.conn.execute(f'SELECT * FROM "{t}"')), key=repr) for t in tables}}


def _one_line_refusal(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1, done.stderr
    assert all(word in done.stderr for word in words), done.stderr


def test_the_backup_key_is_never_kept_in_the_instance_folder_or_beside_the_backups(
        tmp_path: Path, settings: Settings) -> None:
    instance = str(settings.instance)
    folder = tmp_path / "backups"
    folder.mkdir()
    snap = str(folder / "a.aidbk")
    _one_line_refusal(run_aidnet("backup", snap, "--instance", instance), "--key-file")
    _one_line_refusal(run_aidnet("backup", snap, "--instance", instance, "--key-file", str(settings.instance / "k")),
                      "instance folder")
    _one_line_refusal(run_aidnet("backup", snap, "--instance", instance, "--key-file", str(folder / "k")),
                      "beside the backups")
    _one_line_refusal(run_aidnet("backup", str(folder / "a.bak"), "--instance", instance,
                                 "--key-file", str(tmp_path / "keys" / "k")), ".aidbk")
    _one_line_refusal(run_aidnet("backup", snap, "--keep-days", "0", "--instance", instance,
                                 "--key-file", str(tmp_path / "keys" / "k")), "--keep-days must be at least 1")
    assert not list(folder.iterdir()) and not (settings.instance / "k").exists()
    assert not (tmp_path / "keys" / "k").exists()  # nothing is made before every check has passed


def test_a_key_left_in_the_instance_folder_is_refused_with_the_command_that_moves_it(
        tmp_path: Path, settings: Settings) -> None:
    """An instance made before this release: backup says how to move the key; the move works; restore still reads it."""
    legacy = settings.instance / "backup.key"
    backup.backup_key(legacy, create=True)
    folder = tmp_path / "backups"
    folder.mkdir()
    old_snap = folder / "old.aidbk"
    backup.write_backup(settings, old_snap, backup.backup_key(legacy, create=False)[0])
    # Restore still finds the key where such an instance kept it.
    assert run_aidnet("restore", str(old_snap), "--replace", "--instance", str(settings.instance)).returncode == 0
    refused = run_aidnet("backup", str(folder / "new.aidbk"), "--instance", str(settings.instance))
    _one_line_refusal(refused, str(legacy), "OFF this machine")
    move = refused.stderr.split("`")[1]
    assert move.startswith("mv ") and "--key-file " in refused.stderr
    subprocess.run(move.split(), check=True)  # the volunteer pastes it as it is
    assert not legacy.exists()
    key_file = refused.stderr.split("--key-file ")[1].strip()
    done = run_aidnet("backup", str(folder / "new.aidbk"), "--instance", str(settings.instance), "--key-file", key_file)
    assert done.returncode == 0, done.stderr
    assert "made a new backup key" not in done.stdout  # the same key as before, moved
    again = run_aidnet("restore", str(old_snap), "--replace", "--instance", str(settings.instance),
                       "--key-file", key_file)
    assert again.returncode == 0, again.stderr


def test_a_new_backup_key_is_shown_once_on_a_terminal_and_never_in_a_log(tmp_path: Path, settings: Settings) -> None:
    key_file = tmp_path / "keys" / "backup.key"
    controller, terminal = os.openpty()
    try:
        args = ["backup", "--instance", str(settings.instance), "--key-file", str(key_file)]
        first = subprocess.run([*aidnet_command(), *args, str(tmp_path / "one.aidbk")], stdout=terminal,
                               stderr=subprocess.PIPE, timeout=60)
        assert first.returncode == 0, first.stderr
        shown = os.read(controller, 65536).decode()
    finally:
        os.close(terminal)
        os.close(controller)
    key_hex = key_file.read_text().strip()
    assert f"the key (shown this once): {key_hex}" in shown
    second = run_aidnet(*args, str(tmp_path / "two.aidbk"))
    assert second.returncode == 0 and key_hex not in second.stdout + second.stderr
    logged = run_aidnet("backup", "--instance", str(settings.instance), "--key-file", str(tmp_path / "k2" / "b.key"),
                        str(tmp_path / "three.aidbk"))
    assert logged.returncode == 0 and "made a new backup key" in logged.stdout
    assert (tmp_path / "k2" / "b.key").read_text().strip() not in logged.stdout  # not a terminal: a log


def test_keep_days_deletes_only_old_aidnet_backups_and_lists_them(tmp_path: Path, settings: Settings) -> None:
    key_file = tmp_path / "keys" / "backup.key"
    key_file.parent.mkdir()
    key, _ = backup.backup_key(key_file, create=True)
    other_key = os.urandom(32)
    folder = tmp_path / "backups"
    folder.mkdir()
    today = dates.today()
    backup.write_backup(settings, folder / "old.aidbk", key, made_day=today - 31)
    backup.write_backup(settings, folder / "recent.aidbk", key, made_day=today - 29)
    backup.write_backup(settings, folder / "stranger.aidbk", other_key, made_day=today - 400)  # another key's
    (folder / "notes.aidbk").write_bytes(os.urandom(4096))  # named like one, but not a backup
    (folder / "old.txt").write_text("not ours")
    os.utime(folder / "old.txt", (0, 0))
    done = run_aidnet("backup", str(folder / "new.aidbk"), "--keep-days", "30", "--instance", str(settings.instance),
                      "--key-file", str(key_file))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["new.aidbk", "notes.aidbk", "old.txt", "recent.aidbk",
                                                      "stranger.aidbk"]
    assert f"deleted {folder / 'old.aidbk'} (made {dates.day_to_date(today - 31).isoformat()}" in done.stdout
    assert "deleted 1" in done.stdout and f"left {folder / 'stranger.aidbk'}" in done.stdout

    # Without --keep-days: the longest retention config.toml sets.
    longest = longest_retention(settings)
    assert longest == 180  # max_extension_days, the longest any record may be kept
    backup.write_backup(settings, folder / "just-kept.aidbk", key, made_day=today - longest)
    backup.write_backup(settings, folder / "just-gone.aidbk", key, made_day=today - longest - 1)
    done = run_aidnet("backup", str(folder / "newer.aidbk"), "--instance", str(settings.instance),
                      "--key-file", str(key_file))
    assert done.returncode == 0, done.stderr
    assert (folder / "just-kept.aidbk").exists() and not (folder / "just-gone.aidbk").exists()
    assert f"deleted {folder / 'just-gone.aidbk'}" in done.stdout and f"last {longest} days" in done.stdout


def test_a_backup_into_a_folder_is_named_by_its_day(tmp_path: Path, settings: Settings) -> None:
    """As the timer runs it: `aidnet backup FOLDER` writes aidnet-YYYY-MM-DD.aidbk, once a day."""
    folder = tmp_path / "backups"
    folder.mkdir()
    args = ("backup", str(folder), "--instance", str(settings.instance), "--key-file", str(tmp_path / "k" / "b.key"))
    assert run_aidnet(*args).returncode == 0
    name = f"aidnet-{dates.day_to_date(dates.today()).isoformat()}.aidbk"
    assert [p.name for p in folder.iterdir()] == [name]
    again = run_aidnet(*args)
    _one_line_refusal(again, "not overwriting")


def test_a_session_cookie_and_a_backup_taken_while_it_lived_open_the_coordinators_keys(
        tmp_path: Path, settings: Settings) -> None:
    """Does not hold, and THREAT_MODEL says so: the backup keeps the session's wrapped keys past its logout."""
    key_file = tmp_path / "keys" / "backup.key"
    key_file.parent.mkdir()
    key, _ = backup.backup_key(key_file, create=True)
    with open_store(settings) as store:
        cookie = coordinators.login(store, settings, "alice", PASSPHRASE)
        backup.write_backup(settings, tmp_path / "snap.aidbk", key)
        coordinators.logout(store, cookie)
        assert coordinators.resume(store, settings, cookie) is None  # ended on the server
    restored = backup.restore_backup(tmp_path / "snap.aidbk", key, tmp_path / "restored", replace=False)
    with open_store(restored) as store:
        session = coordinators.resume(store, restored, cookie)
    assert session is not None and session.keys.sign_public.hex()  # the keys, from cookie + backup


def test_a_backup_made_before_its_day_was_kept_inside_is_aged_by_its_file(tmp_path: Path, settings: Settings) -> None:
    key_file = tmp_path / "keys" / "backup.key"
    key_file.parent.mkdir()
    key, _ = backup.backup_key(key_file, create=True)
    folder = tmp_path / "backups"
    folder.mkdir()
    old = folder / "older-release.aidbk"
    backup.write_backup(settings, old, key)
    conn = sqlcipher3.connect(str(old), isolation_level=None)
    conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    conn.execute("DELETE FROM aidnet_backup WHERE name = 'made_day'")  # as an older release wrote it
    conn.close()
    long_ago = (dates.today() - 40) * 86400
    os.utime(old, (long_ago, long_ago))
    assert backup.backup_day(old, key) == dates.today() - 40
    pruned = backup.prune_backups(folder, key, 30, dates.today())
    assert pruned.deleted == [(old, dates.today() - 40)] and not old.exists()
