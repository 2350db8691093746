"""The offline keyholder path end to end, and the `aidnet log` commands an operator or auditor runs."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from helpers.cli import run_aidnet
from helpers.instance import PASSPHRASE, add_coordinator, make_instance

import crypto
from aidnet.decisions import membership, notes, proposals
from aidnet.records import requests
from aidnet.store import accounts as account_rows
from aidnet.store import open_store
from aidnet.store import requests as request_rows

KEY_PASS = "offline passphrase long\n"


def test_offline_keyholder_end_to_end(tmp_path: Path) -> None:
    settings = make_instance(tmp_path / "instance")
    add_coordinator(settings)  # alice founds the log, quorum 1 of 1
    store = open_store(settings)
    alice = crypto.unwrap_with_passphrase(account_rows.by_handle(store, "alice").wrapped_keys, PASSPHRASE)

    # 1. Keys made on the keyholder's own computer: only the public member card leaves it.
    made = run_aidnet("keyholder", "keygen", "--handle", "olu", "--out", str(tmp_path / "olu.key"),
               "--passphrase-file", "-", stdin=KEY_PASS)
    assert made.returncode == 0, made.stderr
    card = made.stdout.strip().splitlines()[-1]
    assert card.startswith("aidnet-member:2:olu:")
    # 2. Alice proposes Olu; with quorum 1 it is final at once. Then quorum goes to 2.
    proposal = proposals.new_proposal("add_member", {"member": membership.parse_member_card(card)}, alice)
    assert proposals.propose(store, settings, alice, proposal)
    assert proposals.propose(store, settings, alice, proposals.new_proposal("set_quorum", {"quorum": 2}, alice))
    # 3. A request arrives, sealed to both; an allocation waits for Olu's signature.
    requests.submit_request(store, settings, requests.RequestDetails("food", "north", "OFFLINEMARK rice", "", "today"),
                          secrets.token_hex(16))
    request_id = request_rows.page(store, 0, 1)[0].id.hex()
    allocation = proposals.new_proposal("allocation", {"request": request_id,
                                                               "source": {"kind": "stock", "ref": None}}, alice)
    allocation["body"]["note"] = notes.seal_note(store, allocation["id"], "two bags from the shelf", request_id)
    assert not proposals.propose(store, settings, alice, allocation)
    # 4. Bundle out (operator command), read and signed offline with files only.
    bundle = tmp_path / "bundle.json"
    out = run_aidnet("log", "bundle", str(bundle), "--as", "alice", "--passphrase-file", "-",
                     "--instance", str(settings.instance), stdin=PASSPHRASE + "\n")
    assert out.returncode == 0, out.stderr
    assert "signed by alice; the keyholder tool reads it until " in out.stdout
    assert "OFFLINEMARK" not in bundle.read_text()
    read = run_aidnet("keyholder", "read", str(bundle), "--keys", str(tmp_path / "olu.key"), "--passphrase-file", "-",
               stdin=KEY_PASS)
    assert read.returncode == 0, read.stderr
    assert "OFFLINEMARK rice" in read.stdout and "two bags from the shelf" in read.stdout
    assert "pending: " + allocation["id"] in read.stdout
    wrong = run_aidnet("keyholder", "read", str(bundle), "--keys", str(tmp_path / "olu.key"), "--passphrase-file", "-",
                stdin="not the passphrase\n")
    assert wrong.returncode == 1 and "wrong passphrase" in wrong.stderr
    signatures = tmp_path / "sigs.json"
    vague = run_aidnet("keyholder", "sign", str(bundle), "--keys", str(tmp_path / "olu.key"), "--out", str(signatures),
                "--passphrase-file", "-", stdin=KEY_PASS)
    assert vague.returncode == 1 and "name what you sign" in vague.stderr
    signed = run_aidnet("keyholder", "sign", str(bundle), "--keys", str(tmp_path / "olu.key"), "--out", str(signatures),
                 "--proposal", allocation["id"], "--passphrase-file", "-", stdin=KEY_PASS)
    assert signed.returncode == 0, signed.stderr
    assert "signing: " + allocation["id"] + " allocation: give request " + request_id in signed.stdout
    assert "proposed by alice (" in signed.stdout
    # 5. Signatures back in; the allocation is final; the log verifies offline.
    imported = run_aidnet("log", "import", str(signatures), "--instance", str(settings.instance))
    assert imported.returncode == 0, imported.stderr
    assert "decisions now final 1" in imported.stdout
    assert request_rows.by_id(store, bytes.fromhex(request_id)).status == "allocated"
    exported = tmp_path / "log.json"
    assert run_aidnet("log", "export", str(exported), "--instance", str(settings.instance)).returncode == 0
    genesis = crypto.log.digest(json.loads(exported.read_text())[0])
    verified = run_aidnet("log", "verify", str(exported), "--genesis", genesis)
    assert verified.returncode == 0, verified.stderr
    assert "OK: 4 records verify" in verified.stdout and "alice, olu" in verified.stdout
    store.close()


def test_log_verify_fails_loudly_on_a_tampered_file(tmp_path: Path) -> None:
    settings = make_instance(tmp_path / "instance")
    add_coordinator(settings)
    exported = tmp_path / "log.json"
    assert run_aidnet("log", "export", str(exported), "--instance", str(settings.instance)).returncode == 0
    ok = run_aidnet("log", "verify", "--instance", str(settings.instance))
    assert ok.returncode == 0 and "new records are sealed to: alice" in ok.stdout
    records = json.loads(exported.read_text())
    records[0]["proposal"]["body"]["quorum"] = 2
    exported.write_text(json.dumps(records))
    unpinned = run_aidnet("log", "verify", str(exported))
    assert unpinned.returncode == 1 and "--genesis HASH" in unpinned.stderr
    bad = run_aidnet("log", "verify", str(exported), "--genesis", crypto.log.digest(records[0]))
    assert bad.returncode == 1 and "FAILED" in bad.stderr
    other = run_aidnet("log", "verify", str(exported), "--genesis", "00" * 32)
    assert other.returncode == 1


def test_genesis_command_with_two_founders(tmp_path: Path) -> None:
    instance = tmp_path / "inst"
    run_aidnet("init", "--instance", str(instance))
    for handle in ("ana", "ben"):
        done = run_aidnet("coordinator", "add", handle, "--passphrase-file", "-", "--instance", str(instance),
                   stdin=f"{handle} passphrase long\n")
        assert "founding coordinator" in done.stdout
    too_big = run_aidnet("log", "genesis", "--quorum", "3", "--passphrase-file", "-", "--instance", str(instance),
                  stdin="ana passphrase long\nben passphrase long\n")
    assert too_big.returncode == 1 and "between 1 and 2" in too_big.stderr
    wrong = run_aidnet("log", "genesis", "--quorum", "2", "--passphrase-file", "-", "--instance", str(instance),
                stdin="ana passphrase long\nnope nope nope\n")
    assert wrong.returncode == 1 and "wrong passphrase for ben" in wrong.stderr
    done = run_aidnet("log", "genesis", "--quorum", "2", "--passphrase-file", "-", "--instance", str(instance),
               stdin="ana passphrase long\nben passphrase long\n")
    assert done.returncode == 0, done.stderr
    assert "quorum 2 of 2" in done.stdout
    later = run_aidnet("coordinator", "add", "cai", "--passphrase-file", "-", "--instance", str(instance),
                stdin="cai passphrase long\n")
    assert later.returncode == 0 and "reads nothing yet" in later.stdout
    again = run_aidnet("log", "genesis", "--quorum", "1", "--passphrase-file", "-", "--instance", str(instance),
                stdin="x\n")
    assert again.returncode == 1 and "already has a genesis" in again.stderr
