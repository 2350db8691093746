"""A coordinator changes their passphrase (web and CLI): same keys, wrapped anew, other sessions ended."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient
from helpers.cli import run_aidnet
from helpers.instance import PASSPHRASE, account_keys, add_coordinator, make_instance
from helpers.live import Client, start_server
from helpers.pages import Auth, hidden

import crypto
from aidnet.config import Settings
from aidnet.records import coordinators
from aidnet.store import Store, open_store
from aidnet.store import accounts as account_rows
from crypto import Argon2Params
from crypto.keys import PASS_HEADER

NEW = "a brand new passphrase, long"


def _wrapped(settings: Settings) -> bytes:
    with open_store(settings) as store:
        row = account_rows.by_handle(store, "alice")
        assert row is not None
        return row.wrapped_keys


def _form(page: str, current: str, new: str, again: str) -> dict[str, str]:
    return {"csrf_token": hidden(page, "csrf_token"), "current": current, "new": new, "again": again}


@pytest.mark.server
def test_a_coordinator_changes_their_passphrase_on_the_web_and_their_other_sessions_end(tmp_path: Path) -> None:
    settings = make_instance(tmp_path / "instance")
    add_coordinator(settings)
    before = _wrapped(settings)
    with open_store(settings) as store:
        keys_before = account_keys(store)
    server = start_server(settings.instance, tmp_path / "logs")
    try:
        here, elsewhere = Client(server.url), Client(server.url)
        assert here.login().status == 303 and elsewhere.login().status == 303
        page = here.get("/coordinator/passphrase/")
        assert page.status == 200 and "<script" not in page.body
        assert 'autocomplete="new-password"' in page.body
        assert 'href="/coordinator/passphrase/"' in here.get("/coordinator/two-step/").body  # found from the account page
        form = page.body
        # No CSRF token: refused, nothing changed.
        assert here.post("/coordinator/passphrase/", dict(_form(form, PASSPHRASE, NEW, NEW), csrf_token="x")).status == 400
        wrong = here.post("/coordinator/passphrase/", _form(form, "not my passphrase", NEW, NEW))
        assert wrong.status == 403 and "That is not your current passphrase." in wrong.body
        differ = here.post("/coordinator/passphrase/", _form(form, PASSPHRASE, NEW, NEW + "x"))
        assert differ.status == 400 and "The two new passphrases differ. Type them again." in differ.body
        short = here.post("/coordinator/passphrase/", _form(form, PASSPHRASE, "short", "short"))
        assert short.status == 400 and "at least 12 characters" in short.body
        same = here.post("/coordinator/passphrase/", _form(form, PASSPHRASE, PASSPHRASE, PASSPHRASE))
        assert same.status == 400 and "must differ from the current one" in same.body
        wide = "é" * 600  # 600 characters, 1,200 bytes: more than the key wrapping takes
        too_long = here.post("/coordinator/passphrase/", _form(form, PASSPHRASE, wide, wide))
        assert too_long.status == 400 and "The new passphrase is too long." in too_long.body
        assert _wrapped(settings) == before  # every refusal left the account as it was
        done = here.post("/coordinator/passphrase/", _form(form, PASSPHRASE, NEW, NEW))
        assert done.status == 303 and done.headers["Location"].endswith("/coordinator/passphrase/?saved=1")
        assert "Your passphrase is changed." in here.get("/coordinator/passphrase/?saved=1").body
        assert here.get("/coordinator/").status == 200  # the session that changed it goes on
        assert elsewhere.get("/coordinator/").status in (302, 303)  # any other session has ended
        assert Client(server.url).login(passphrase=PASSPHRASE).status == 403
        assert Client(server.url).login(passphrase=NEW).status == 303
    finally:
        server.stop()
    after = _wrapped(settings)
    assert after != before
    with pytest.raises(crypto.CryptoError):
        crypto.unwrap_with_passphrase(after, PASSPHRASE)
    keys_after = crypto.unwrap_with_passphrase(after, NEW)
    assert keys_after.to_bytes() == keys_before.to_bytes()  # the same keys: what they opened, they still open
    # Wrapped with Argon2id at the instance's configured cost (the tests' config differs from the defaults).
    _magic, _version, memory_kib, time_cost, lanes = PASS_HEADER.unpack(after[:PASS_HEADER.size])
    assert Argon2Params(time_cost, memory_kib, lanes) == settings.argon2 != Argon2Params()


def test_the_passphrase_page_speaks_the_coordinators_language(client: FlaskClient, auth: Auth, store: Store) -> None:
    row = account_rows.by_handle(store, "alice")
    assert row is not None
    coordinators.set_language(store, row.id, "es")
    assert auth.login().status_code == 303
    page = client.get("/coordinator/passphrase/").get_data(as_text=True)
    wrong = client.post("/coordinator/passphrase/", data=_form(page, "not my passphrase", NEW, NEW))
    text = wrong.get_data(as_text=True)
    assert wrong.status_code == 403 and "That is not your current passphrase." not in text
    assert "Change your passphrase" not in text


def test_a_changed_passphrase_rewraps_next_keys_only_when_they_were_under_it(tmp_path: Path) -> None:
    """A rotation made before rotations asked for a new passphrase kept its keys under the old one: they follow."""
    settings = make_instance(tmp_path / "inst")
    add_coordinator(settings)
    with open_store(settings) as store:
        row = account_rows.by_handle(store, "alice")
        assert row is not None
        for under, then in ((PASSPHRASE, NEW), ("the rotation's own passphrase", "the rotation's own passphrase")):
            waiting = crypto.generate_keypair()
            with store.write() as tx:
                account_rows.set_next_keys(tx, row.id, waiting.box_public + waiting.sign_public
                                           + crypto.wrap_with_passphrase(waiting, under, settings.argon2))
            coordinators.change_passphrase(store, settings, "alice", PASSPHRASE, NEW)
            kept = account_rows.next_keys(store, row.id)
            assert kept is not None
            assert crypto.unwrap_with_passphrase(kept[64:], then).to_bytes() == waiting.to_bytes()
            if under == PASSPHRASE:
                with pytest.raises(crypto.CryptoError):  # the old passphrase opens no future keys either
                    crypto.unwrap_with_passphrase(kept[64:], PASSPHRASE)
            coordinators.change_passphrase(store, settings, "alice", NEW, PASSPHRASE)  # back, for the next round


def test_coordinator_passphrase_on_the_command_line(tmp_path: Path) -> None:
    settings = make_instance(tmp_path / "inst")
    add_coordinator(settings)
    instance = str(settings.instance)
    with open_store(settings) as store:
        keys = account_keys(store)
        cookie = coordinators.login(store, settings, "alice", PASSPHRASE)
    wrong = run_aidnet("coordinator", "passphrase", "alice", "--instance", instance, "--passphrase-file", "-",
                       stdin=f"not it at all\n{NEW}\n")
    assert wrong.returncode == 1 and wrong.stderr == "aidnet: that is not the current passphrase of alice\n"
    nobody = run_aidnet("coordinator", "passphrase", "zed", "--instance", instance, "--passphrase-file", "-",
                        stdin=f"{PASSPHRASE}\n{NEW}\n")
    assert nobody.returncode == 1 and "no coordinator zed" in nobody.stderr
    short = run_aidnet("coordinator", "passphrase", "alice", "--instance", instance, "--passphrase-file", "-",
                       stdin=f"{PASSPHRASE}\nshort\n")
    assert short.returncode == 1 and "at least 12 characters" in short.stderr and len(short.stderr.splitlines()) == 1
    done = run_aidnet("coordinator", "passphrase", "alice", "--instance", instance, "--passphrase-file", "-",
                      stdin=f"{PASSPHRASE}\n{NEW}\n")
    assert done.returncode == 0, done.stderr
    assert "changed the passphrase of alice" in done.stdout and "1 session ended" in done.stdout
    with open_store(settings) as store:
        assert coordinators.resume(store, settings, cookie) is None  # the session open before has ended
        assert account_keys(store, passphrase=NEW).to_bytes() == keys.to_bytes()
        with pytest.raises(coordinators.LoginFailed):
            coordinators.login(store, settings, "alice", PASSPHRASE)


def test_a_key_rotation_on_the_web_asks_for_a_new_passphrase(client: FlaskClient, auth: Auth, settings: Settings) -> None:
    assert auth.login().status_code == 303
    page = client.get("/coordinator/decisions/").get_data(as_text=True)
    assert 'name="new_passphrase"' in page and 'name="again"' in page
    rotate = {"csrf_token": hidden(page, "csrf_token"), "passphrase": PASSPHRASE}
    same = client.post("/coordinator/decisions/rotate", data=dict(rotate, new_passphrase=PASSPHRASE, again=PASSPHRASE))
    assert same.status_code == 400 and "must differ from the current one" in same.get_data(as_text=True)
    differ = client.post("/coordinator/decisions/rotate", data=dict(rotate, new_passphrase=NEW, again=NEW + "!"))
    assert differ.status_code == 400 and "The two new passphrases differ" in differ.get_data(as_text=True)
    done = client.post("/coordinator/decisions/rotate", data=dict(rotate, new_passphrase=NEW, again=NEW))
    assert done.status_code == 303  # quorum 1: final at once, the new keys under the new passphrase
    wrapped = _wrapped(settings)
    with pytest.raises(crypto.CryptoError):
        crypto.unwrap_with_passphrase(wrapped, PASSPHRASE)
    crypto.unwrap_with_passphrase(wrapped, NEW)
    assert auth.login(passphrase=NEW).status_code == 303


def test_wrong_current_passphrases_are_limited_apart_from_logins(settings: Settings, store: Store) -> None:
    for _ in range(coordinators.THROTTLE_PER_HANDLE + 1):  # someone guessing at alice's login, until throttled
        with pytest.raises((coordinators.LoginFailed, coordinators.Throttled)):
            coordinators.login(store, settings, "alice", "a wrong guess at it")
    coordinators.change_passphrase(store, settings, "alice", PASSPHRASE, NEW)  # her own change still goes through
    for _ in range(coordinators.THROTTLE_PER_HANDLE):
        with pytest.raises(coordinators.WrongPassphrase):
            coordinators.change_passphrase(store, settings, "alice", "not the current one", PASSPHRASE)
    with pytest.raises(coordinators.Throttled):  # a stolen session cannot go on guessing
        coordinators.change_passphrase(store, settings, "alice", NEW, PASSPHRASE)
    assert account_keys(store, passphrase=NEW)


def test_a_rotation_made_final_during_a_change_is_not_undone(monkeypatch: pytest.MonkeyPatch, settings: Settings,
                                                               store: Store) -> None:
    rotated = crypto.wrap_with_passphrase(crypto.generate_keypair(), "the new keys' passphrase", settings.argon2)
    real_wrap = crypto.wrap_with_passphrase

    def rotation_lands_meanwhile(*args, **kwargs):  # type: ignore[no-untyped-def]
        with store.write() as tx:
            tx.execute("UPDATE coordinators SET wrapped_keys = ? WHERE handle = 'alice'", (rotated,))
        return real_wrap(*args, **kwargs)

    monkeypatch.setattr(crypto, "wrap_with_passphrase", rotation_lands_meanwhile)
    with pytest.raises(coordinators.KeysChanged):
        coordinators.change_passphrase(store, settings, "alice", PASSPHRASE, NEW)
    assert _wrapped(settings) == rotated
