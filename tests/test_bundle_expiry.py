"""Offline bundles expire: the day is inside what a member signed, and the keyholder tool refuses it after."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from helpers.cli import run_aidnet
from helpers.instance import PASSPHRASE, account_keys, add_coordinator, make_instance
from helpers.pages import Auth

import crypto
from aidnet import dates
from aidnet.config import Settings, load_settings
from aidnet.decisions import keyholder, offline
from aidnet.decisions.proposals import DecisionRefused
from aidnet.records import coordinators
from aidnet.store import open_store

KEY_PASS = "offline passphrase long"


@pytest.fixture
def keyfile(tmp_path: Path) -> Path:
    path = tmp_path / "olu.key"
    keyholder.write_keyfile(path, "olu", KEY_PASS, crypto.Argon2Params(1, 8192, 1))
    return path


def _bundle(settings: Settings, path: Path, today: int | None = None) -> dict[str, object]:
    with open_store(settings) as store:
        bundle = offline.signed_bundle(store, settings, account_keys(store), today=today)
    path.write_text(json.dumps(bundle))
    return bundle


def _tool(action: str, bundle: Path, keyfile: Path) -> tuple[int, str, str]:
    extra = ["--out", str(bundle.with_name("sigs.json")), "--all"] if action == "sign" else []
    done = run_aidnet("keyholder", action, str(bundle), "--keys", str(keyfile), "--passphrase-file", "-", *extra,
                      stdin=KEY_PASS + "\n")
    return done.returncode, done.stdout, done.stderr


def test_a_bundle_is_read_until_its_expiry_day_and_refused_after(tmp_path: Path, settings: Settings,
                                                                 keyfile: Path) -> None:
    today = dates.today()
    fresh = _bundle(settings, tmp_path / "fresh.json")
    assert fresh["made"] == today and fresh["expires"] == today + 14  # the default: 14 days
    assert _tool("read", tmp_path / "fresh.json", keyfile)[0] == 0
    _bundle(settings, tmp_path / "last-day.json", today=today - 14)
    assert _tool("read", tmp_path / "last-day.json", keyfile)[0] == 0  # its last day is today
    old = tmp_path / "old.json"
    _bundle(settings, old, today=today - 15)
    for action in ("read", "sign"):
        code, out, err = _tool(action, old, keyfile)
        assert code == 1 and out == "" and len(err.splitlines()) == 1, (action, err)
        assert f"expired on {dates.day_to_date(today - 1).isoformat()}: delete it" in err
    assert not (tmp_path / "sigs.json").exists()


def test_editing_the_expiry_in_a_bundle_file_breaks_its_signature(tmp_path: Path, settings: Settings,
                                                                 keyfile: Path) -> None:
    path = tmp_path / "bundle.json"
    _bundle(settings, path, today=dates.today() - 30)
    data = json.loads(path.read_text())
    data["expires"] = dates.today() + 100  # someone keeps an old copy readable
    path.write_text(json.dumps(data))
    for action in ("read", "sign"):
        code, _out, err = _tool(action, path, keyfile)
        assert code == 1 and "was changed after it was made (its signature does not hold): delete it" in err, err
    with pytest.raises(keyholder.KeyholderError, match="signature does not hold"):
        keyholder.load_bundle(path)
    # Signed again by a key that is not a member of the bundle's log: refused too.
    stranger = crypto.generate_keypair()
    path.write_text(json.dumps(crypto.bundles.sign_bundle({k: v for k, v in data.items() if k != "signed"},
                                                          stranger.sign_seed)))
    with pytest.raises(keyholder.KeyholderError, match="not signed by a member"):
        keyholder.load_bundle(path)


def test_a_bundle_made_before_bundles_expired_is_refused(tmp_path: Path, settings: Settings, keyfile: Path) -> None:
    with open_store(settings) as store:
        old = dict(offline.export_bundle(store), v=2)  # what a release before this one handed out
    path = tmp_path / "v2.json"
    path.write_text(json.dumps(old))
    code, _out, err = _tool("read", path, keyfile)
    assert code == 1 and len(err.splitlines()) == 1
    assert "was made before bundles had an expiry day: delete it and download a new one" in err


def test_the_expiry_is_configurable_and_only_a_member_hands_out_a_bundle(tmp_path: Path) -> None:
    settings = make_instance(tmp_path / "inst")
    config = settings.instance / "config.toml"
    config.write_text(config.read_text().replace("bundle_days = 14", "bundle_days = 3"))
    settings = load_settings(settings.instance)
    add_coordinator(settings)
    add_coordinator(settings, "bob")  # an account, not (yet) a member of the log
    with open_store(settings) as store:
        assert offline.signed_bundle(store, settings, account_keys(store), today=100)["expires"] == 103
        with pytest.raises(DecisionRefused, match="only a member"):
            offline.signed_bundle(store, settings, account_keys(store, "bob"))
    refused = run_aidnet("log", "bundle", str(tmp_path / "b.json"), "--as", "alice", "--passphrase-file", "-",
                         "--instance", str(settings.instance), stdin="not the passphrase\n")
    assert refused.returncode == 1 and "not the passphrase of alice" in refused.stderr
    assert not (tmp_path / "b.json").exists()


def test_the_web_bundle_carries_its_expiry_in_its_name_and_a_non_member_gets_none(
        client: FlaskClient, auth: Auth, settings: Settings, tmp_path: Path) -> None:
    assert auth.login().status_code == 303
    page = client.get("/coordinator/decisions/").get_data(as_text=True)
    until = dates.day_to_date(dates.today() + 14).isoformat()
    assert f"can be read until {until}" in page
    download = client.get("/coordinator/decisions/bundle")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"] == f"attachment; filename=aidnet-bundle-until-{until}.json"
    path = tmp_path / "web.json"
    path.write_bytes(download.data)
    bundle, _state = keyholder.load_bundle(path)
    assert bundle["expires"] == dates.today() + 14
    with open_store(settings) as store:
        coordinators.add_coordinator(store, settings, "bob", PASSPHRASE)
    bob = client.application.test_client()
    assert Auth(bob).login("bob").status_code == 303
    refused = bob.get("/coordinator/decisions/bundle")
    assert refused.status_code == 403 and "Only a member of the decision log" in refused.get_data(as_text=True)
