"""Retention: purge crypto-shreds what is due and nothing else, idempotently; coordinators extend with a sealed reason.

The purge test does not stop at "the marker is not in any file" (SQLCipher
would hide it anyway): it decrypts every database page with the instance key
(AES-256-CBC via Debian's openssl) and checks that the erased request's
ciphertext is gone from the pages themselves, while the kept one is still there.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from helpers.cli import run_aidnet
from helpers.instance import send_reply
from helpers.pagecheck import header_problems, page_problems
from helpers.pages import Auth, hidden

from aidnet import dates
from aidnet.cli.main import build_parser
from aidnet.config import ConfigError, Settings, load_settings
from aidnet.records import requests, retention
from aidnet.store import Store, counters, open_store
from aidnet.store import requests as request_rows
from aidnet.store import retention as retention_rows
from aidnet.store.requests import RequestRow

PAGE, RESERVE = 4096, 80  # SQLCipher 4 defaults: 16-byte IV + 64-byte HMAC at the end of each page


def decrypted_pages(path: Path, key: bytes) -> bytes:
    """Every page of a SQLCipher file, decrypted (raw key: the key file is the AES key)."""
    data = path.read_bytes()
    out = []
    for n in range(len(data) // PAGE):
        page = data[n * PAGE:(n + 1) * PAGE]
        iv = page[PAGE - RESERVE:PAGE - RESERVE + 16]
        done = subprocess.run(["openssl", "enc", "-d", "-aes-256-cbc", "-K", key.hex(), "-iv", iv.hex(), "-nopad"],
                              input=page[16 if n == 0 else 0:PAGE - RESERVE], capture_output=True, check=True)
        out.append(done.stdout)
    assert out[0][:2] == b"\x10\x00", "page 1 did not decrypt (page size 4096 expected at header offset 16)"
    return b"".join(out)


def submit(store: Store, settings: Settings, need: str) -> RequestRow:
    requests.submit_request(store, settings, requests.RequestDetails("food", "north", need, "", "today"),
                          secrets.token_hex(8))
    return request_rows.page(store, 0, 1)[0]


def tables_dump(store: Store) -> dict[str, list[tuple[object, ...]]]:
    names = [r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {n: sorted(map(tuple, store.conn.execute(f"SELECT * FROM {n}")), key=repr) for n in names}  # noqa: S608


def purge_cli(settings: Settings) -> subprocess.CompletedProcess[str]:
    return run_aidnet("purge", env={"AIDNET_INSTANCE": str(settings.instance)})


def test_purge_shreds_the_expired_and_keeps_the_rest(settings: Settings, store: Store) -> None:
    marker, kept_marker, reply_marker = (f"{w}{secrets.token_hex(6)}" for w in ("GONE", "KEPT", "REPLY"))
    expired = submit(store, settings, f"need {marker}")
    assert send_reply(store, settings, expired.id.hex(), f"reply {reply_marker}")
    reply = request_rows.replies_for(store, expired.id)[0]
    kept = submit(store, settings, f"need {kept_marker}")
    with store.write() as tx:
        tx.execute("UPDATE requests SET expires_day = ? WHERE id = ?", (dates.today() - 1, expired.id))
    counters_before = counters.all_counters(store)
    store.checkpoint()
    key = settings.db_key
    before = decrypted_pages(settings.database, key)
    # The scanner sees ciphertext where it is: proof the "absent" check below can fail.
    assert expired.envelope[40:104] in before and reply.envelope[40:104] in before and kept.envelope[40:104] in before

    done = purge_cli(settings)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("purged 1 requests")

    after = decrypted_pages(settings.database, key)
    assert expired.envelope[40:104] not in after and reply.envelope[40:104] not in after
    assert kept.envelope[40:104] in after
    wal = settings.database.with_name(settings.database.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    for path in (p for p in settings.instance.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for secret in (marker, reply_marker):
            assert secret.encode() not in data and secret.encode("utf-16-le") not in data, path.name
        assert expired.envelope[40:104] not in data, path.name
    fresh = open_store(settings)
    assert request_rows.by_id(fresh, expired.id) is None and request_rows.replies_for(fresh, expired.id) == []
    assert request_rows.by_id(fresh, kept.id) == kept  # untouched: same envelope, status and day
    assert counters.all_counters(fresh) == counters_before  # totals keep what happened
    snapshot = tables_dump(fresh)
    fresh.close()

    again = purge_cli(settings)
    assert again.returncode == 0 and again.stdout.startswith("purged 0 requests and 0 offers; 0 finished")
    fresh = open_store(settings)
    assert tables_dump(fresh) == snapshot
    fresh.close()


def test_finished_withdrawn_and_extended_requests(settings: Settings, store: Store) -> None:
    today = dates.today()
    done_row = submit(store, settings, "finished")
    kept_row = submit(store, settings, "finished but kept")
    gone_row = submit(store, settings, "withdrawn")
    assert retention.extend(store, settings, kept_row.id.hex(), 180, "still waiting for the second delivery")
    assert retention.extend(store, settings, gone_row.id.hex(), 180, "kept, then withdrawn")
    with store.write() as tx:
        request_rows.set_status(tx, done_row.id, "fulfilled")
        request_rows.set_status(tx, kept_row.id, "closed")
        request_rows.set_status(tx, gone_row.id, "withdrawn")
    report = retention.purge(store, settings, today=today)
    assert report.requests == 1  # withdrawn: erased at once, even though it had been extended
    assert request_rows.by_id(store, gone_row.id) is None
    assert request_rows.by_id(store, done_row.id).expires_day == today + settings.policy.closed_days  # type: ignore[union-attr]
    assert request_rows.by_id(store, kept_row.id).expires_day == today + 180  # type: ignore[union-attr]
    assert not retention.purge(store, settings, today=today).changed()
    later = retention.purge(store, settings, today=today + 30)
    assert later.requests == 0 and later.shortened == 0 and later.other == 3  # only the 3 used form nonces
    assert retention.purge(store, settings, today=today + 31).requests == 1
    assert request_rows.by_id(store, done_row.id) is None and request_rows.by_id(store, kept_row.id) is not None
    assert retention_rows.extensions_for(store, gone_row.id) == []


def test_extend_from_the_coordinator_page(client: FlaskClient, auth: Auth, settings: Settings, store: Store) -> None:
    row = submit(store, settings, "a need")
    assert auth.login().status_code == 303
    url = f"/coordinator/keep/{row.id.hex()}"
    request_page = client.get(f"/coordinator/request/{row.id.hex()}").get_data(as_text=True)
    assert url in request_page
    page = client.get(url)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and not page_problems(html) and not header_problems(dict(page.headers), True)
    token = hidden(html, "csrf_token")
    empty = client.post(url, data={"csrf_token": token, "days": "60", "reason": ""})
    assert empty.status_code == 400 and "Say why it must be kept longer." in empty.get_data(as_text=True)
    too_long = client.post(url, data={"csrf_token": token, "days": "60", "reason": "typed " + "x" * 600})
    assert too_long.status_code == 400 and "typed xxx" in too_long.get_data(as_text=True)
    assert client.post(url, data={"csrf_token": "bad", "days": "60", "reason": "r"}).status_code == 400
    assert client.post(url, data={"csrf_token": token, "days": "7", "reason": "r"}).status_code == 400
    assert request_rows.by_id(store, row.id).expires_day == row.expires_day  # type: ignore[union-attr]  # nothing kept

    reason = "REASON" + secrets.token_hex(6)
    saved = client.post(url, data={"csrf_token": token, "days": "180", "reason": reason})
    assert saved.status_code == 303
    assert request_rows.by_id(store, row.id).expires_day == dates.today() + 180  # type: ignore[union-attr]
    shown = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert reason in shown and "Kept longer" in shown
    sealed = retention_rows.extensions_for(store, row.id)[0][2]
    assert reason.encode() not in sealed  # sealed to the coordinators, never stored in clear
    shorter = client.post(url, data={"csrf_token": token, "days": "30", "reason": "shorter"})
    assert shorter.status_code == 409 and "already kept" in shorter.get_data(as_text=True)
    assert client.get("/coordinator/keep/" + "00" * 16).status_code == 404


def test_policy_defaults_for_old_instance_folders(settings: Settings, tmp_path: Path) -> None:

    config = settings.instance / "config.toml"
    text = config.read_text()
    start, end = text.index("[retention]"), text.index("[argon2]")
    config.write_text(text[:start] + text[end:])
    old = load_settings(settings.instance)
    assert old.policy.k == 10 and old.policy.closed_days == 30 and old.policy.noise
    config.write_text(text.replace("k = 10", "k = 3"))
    with pytest.raises(ConfigError, match="k must be"):
        load_settings(settings.instance)


def test_timer_units_run_commands_the_cli_accepts(tmp_path: Path) -> None:
    ops = Path(__file__).resolve().parent.parent / "ops"
    units = []
    for name in ("aidnet-purge.service", "aidnet-purge.timer", "aidnet-export.service", "aidnet-export.timer"):
        # Only the install path changes, to this checkout's aidnet (verify needs the binary to exist).
        (tmp_path / name).write_text((ops / name).read_text().replace(
            "/opt/aidnet/.venv/bin/aidnet", str(Path(sys.executable).parent / "aidnet")))
        units.append(str(tmp_path / name))
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", *units], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr
    for service in units[0], units[2]:
        done = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", service],
                              capture_output=True, text=True, timeout=60)
        level = re.search(r"Overall exposure level for \S+: (\d+\.\d)", done.stdout)
        assert level and float(level.group(1)) <= 2.0, done.stdout[-400:]
    for name, command in (("aidnet-purge", "purge"), ("aidnet-export", "export")):
        service = (ops / f"{name}.service").read_text()
        timer = (ops / f"{name}.timer").read_text()
        assert "OnCalendar=" in timer and "Persistent=true" in timer and f"Unit={name}.service" in timer
        execs = [line.split("=", 1)[1].split() for line in service.splitlines() if line.startswith("ExecStart=")]
        assert execs and all(e[0].endswith("/aidnet") for e in execs)
        for argv in execs:
            args = build_parser().parse_args(argv[1:])
            assert args.command == command
        assert "Type=oneshot" in service and "NoNewPrivileges=yes" in service
