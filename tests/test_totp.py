"""Optional TOTP second factor for coordinators: enrolment without JavaScript, login, replay, recovery, off."""

from __future__ import annotations

import base64
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from flask.testing import FlaskClient
from helpers.browser import browser, click_and_wait
from helpers.cli import run_aidnet
from helpers.instance import PASSPHRASE, add_coordinator
from helpers.live import LiveServer, serve_new_instance
from helpers.pagecheck import page_problems
from helpers.pages import Auth, hidden
from selenium.webdriver.common.by import By

from aidnet.config import Settings
from aidnet.records import coordinators, totp
from aidnet.store import accounts as account_rows
from aidnet.store import open_store


def _secret(html: str) -> str:
    match = re.search(r'<p class="codename" id="secret" lang="zxx">([A-Z2-7 ]+)</p>', html)
    assert match, "no secret on the setup page"
    return match.group(1).replace(" ", "")


def _codes(html: str) -> list[str]:
    return re.findall(r"<li>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</li>", html)


def _login(client: FlaskClient, code: str = "", handle: str = "alice") -> int:
    page = client.get("/coordinator/login").get_data(as_text=True)
    return client.post("/coordinator/login", data={"csrf_token": hidden(page, "csrf_token"), "handle": handle,
                                                   "passphrase": PASSPHRASE, "code": code}).status_code


def _logout(client: FlaskClient) -> None:
    page = client.get("/coordinator/two-step/").get_data(as_text=True)
    client.post("/coordinator/logout", data={"csrf_token": hidden(page, "csrf_token")})
    client.delete_cookie("aidnet_coordinator", path="/coordinator")


def _enrol(client: FlaskClient) -> tuple[str, list[str]]:
    page = client.get("/coordinator/two-step/").get_data(as_text=True)
    setup = client.post("/coordinator/two-step/start", data={"csrf_token": hidden(page, "csrf_token")})
    assert setup.status_code == 200
    html = setup.get_data(as_text=True)
    secret = _secret(html)
    assert f"secret={secret}" in html.replace("&amp;", "&")  # the otpauth link carries the same key
    form = {"csrf_token": hidden(html, "csrf_token"), "pending": hidden(html, "pending")}
    wrong = client.post("/coordinator/two-step/confirm", data={**form, "code": "000000"
                                                               if pyotp.TOTP(secret).now() != "000000" else "111111"})
    assert wrong.status_code == 400 and "That code does not match" in wrong.get_data(as_text=True)
    assert _secret(wrong.get_data(as_text=True)) == secret  # the same key, not a new one to retype
    done = client.post("/coordinator/two-step/confirm", data={**form, "code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200
    codes = _codes(done.get_data(as_text=True))
    assert len(codes) == totp.RECOVERY_CODES and len(set(codes)) == totp.RECOVERY_CODES
    return secret, codes


def _next_step_code(secret: str) -> str:
    """A code for a step not yet used (each step is accepted once)."""
    return pyotp.TOTP(secret).at(time.time() + totp.STEP_SECONDS)


def test_enrol_then_login_needs_the_code(client: FlaskClient, auth: Auth, settings: Settings) -> None:
    assert auth.login().status_code == 303
    secret, codes = _enrol(client)
    _logout(client)

    failed = client.post("/coordinator/login", data={
        "csrf_token": hidden(client.get("/coordinator/login").get_data(as_text=True), "csrf_token"),
        "handle": "alice", "passphrase": PASSPHRASE, "code": ""})
    body = failed.get_data(as_text=True)
    # No code: the same answer as a wrong passphrase (nothing says the passphrase was right).
    assert failed.status_code == 403 and "That handle and passphrase do not match" in body
    assert "check the code from your app too" in body
    assert "alice" in body  # what was typed is kept (the handle)
    assert _login(client, "123456" if pyotp.TOTP(secret).now() != "123456" else "654321") == 403

    code = _next_step_code(secret)
    assert _login(client, code) == 303
    assert client.get("/coordinator/").status_code == 200
    _logout(client)
    assert _login(client, code) == 403  # the same code never works twice

    assert _login(client, codes[0].upper().replace("-", " ")) == 303  # recovery code, typed loosely
    _logout(client)
    assert _login(client, codes[0]) == 403  # spent
    store = open_store(settings)
    try:
        row = account_rows.by_handle(store, "alice")
        assert row is not None and totp.recovery_left(store, row.id) == totp.RECOVERY_CODES - 1
        # The secret is not in the database in clear, in any encoding.
        dump = b"".join(bytes(v) if isinstance(v, bytes) else str(v).encode()
                        for r in store.conn.execute("SELECT * FROM second_factor") for v in r)
        for form in (secret.encode(), base64.b32decode(secret)):
            assert form not in dump
    finally:
        store.close()


def test_turn_off_needs_a_code(client: FlaskClient, auth: Auth) -> None:
    auth.login()
    secret, _codes_ = _enrol(client)
    page = client.get("/coordinator/two-step/").get_data(as_text=True)
    assert "Recovery codes left: 10" in page
    # While it is on, a (stolen) session cannot swap in a new secret without a code.
    again = client.post("/coordinator/two-step/start", data={"csrf_token": hidden(page, "csrf_token")})
    assert again.status_code == 303 and "Recovery codes left: 10" in client.get(again.headers["Location"]).get_data(
        as_text=True)
    bad = client.post("/coordinator/two-step/off", data={"csrf_token": hidden(page, "csrf_token"), "code": "nope"})
    assert bad.status_code == 403
    off = client.post("/coordinator/two-step/off", data={"csrf_token": hidden(page, "csrf_token"),
                                                         "code": _next_step_code(secret)})
    assert off.status_code == 303
    assert "Two-step login is off." in client.get(off.headers["Location"]).get_data(as_text=True)
    _logout(client)
    assert _login(client) == 303


def test_a_tampered_or_foreign_pending_secret_is_refused(client: FlaskClient, auth: Auth, settings: Settings) -> None:
    add_coordinator(settings, "bob")
    auth.login()
    page = client.get("/coordinator/two-step/").get_data(as_text=True)
    html = client.post("/coordinator/two-step/start", data={"csrf_token": hidden(page, "csrf_token")}).get_data(
        as_text=True)
    pending, secret = hidden(html, "pending"), _secret(html)
    raw = bytearray(base64.urlsafe_b64decode(pending))
    raw[-1] ^= 1
    tampered = client.post("/coordinator/two-step/confirm", data={
        "csrf_token": hidden(html, "csrf_token"), "pending": base64.urlsafe_b64encode(bytes(raw)).decode(),
        "code": pyotp.TOTP(secret).now()})
    assert tampered.status_code == 400 and _secret(tampered.get_data(as_text=True)) != secret
    # Alice's sealed secret does not open in Bob's session: Bob cannot be made to adopt it.
    _logout(client)
    assert _login(client, handle="bob") == 303
    page = client.get("/coordinator/two-step/").get_data(as_text=True)
    foreign = client.post("/coordinator/two-step/confirm", data={
        "csrf_token": hidden(page, "csrf_token"), "pending": pending, "code": pyotp.TOTP(secret).now()})
    assert foreign.status_code == 400
    store = open_store(settings)
    try:
        bob = account_rows.by_handle(store, "bob")
        assert bob is not None and not totp.is_on(store, bob.id)
    finally:
        store.close()


def test_code_window_is_one_step_either_side(settings: Settings) -> None:
    secret = pyotp.random_base32()
    now = 1_800_000_000.0
    code = pyotp.TOTP(secret).at(now)
    assert totp.matching_step(secret, code, now) == int(now // 30)
    assert totp.matching_step(secret, code, now + 30) == int(now // 30)
    assert totp.matching_step(secret, code, now + 90) is None
    assert totp.matching_step(secret, "12345", now) is None


def test_wrong_codes_count_against_the_login_throttle(client: FlaskClient, auth: Auth, settings: Settings) -> None:
    auth.login()
    _enrol(client)
    _logout(client)
    for _ in range(coordinators.THROTTLE_PER_HANDLE):
        assert _login(client, "not-a-code") == 403
    assert _login(client, "not-a-code") == 429


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    yield from serve_new_instance(tmp_path / "served")


@pytest.mark.browser
@pytest.mark.server
def test_enrol_and_log_in_with_javascript_off(server: LiveServer, tmp_path: Path) -> None:
    with browser(tmp_path) as driver:
        driver.get(server.url + "/coordinator/login")
        driver.find_element(By.ID, "handle").send_keys("alice")
        driver.find_element(By.ID, "passphrase").send_keys(PASSPHRASE)
        click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]"))
        click_and_wait(driver, driver.find_element(By.LINK_TEXT, "Two-step login"))
        assert page_problems(driver.page_source) == []
        click_and_wait(driver, driver.find_element(By.XPATH, "//button[text()='Set up two-step login']"))
        assert page_problems(driver.page_source) == []
        secret = driver.find_element(By.ID, "secret").text.replace(" ", "")
        # The QR code (an HTML table, no image) scans to the same key, as a phone would read it.
        driver.find_element(By.ID, "qr").screenshot(str(tmp_path / "qr.png"))
        scanned = subprocess.run(["zbarimg", "-q", "--raw", str(tmp_path / "qr.png")], capture_output=True,
                                 text=True, timeout=30)
        assert scanned.returncode == 0, "zbarimg could not read the QR code"
        assert scanned.stdout.strip() == driver.find_element(By.ID, "uri").text
        assert f"secret={secret}" in scanned.stdout
        driver.find_element(By.ID, "code").send_keys(pyotp.TOTP(secret).now())
        click_and_wait(driver, driver.find_element(By.XPATH, "//button[text()='Turn on two-step login']"))
        codes = driver.find_element(By.ID, "recovery-codes").text.split()
        assert len(codes) == totp.RECOVERY_CODES
        click_and_wait(driver, driver.find_element(By.XPATH, "//button[text()='Log out']"))
        driver.find_element(By.ID, "handle").send_keys("alice")
        driver.find_element(By.ID, "passphrase").send_keys(PASSPHRASE)
        driver.find_element(By.ID, "code").send_keys(_next_step_code(secret))
        click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]"))
        assert driver.find_element(By.TAG_NAME, "h1").text != "Coordinator log in"
        assert driver.current_url.endswith("/coordinator/")


def test_operator_can_turn_it_off_for_a_lost_phone(client: FlaskClient, auth: Auth, settings: Settings) -> None:
    auth.login()
    _enrol(client)
    _logout(client)
    assert _login(client) == 403
    done = run_aidnet("two-step-off", "alice", "--instance", str(settings.instance))
    assert done.returncode == 0 and "two-step login is off for alice" in done.stdout, done.stderr
    assert _login(client) == 303
    missing = run_aidnet("two-step-off", "nobody", "--instance", str(settings.instance))
    assert missing.returncode == 1 and missing.stderr.startswith("aidnet: no coordinator")


def test_wrong_passphrase_costs_as_much_as_a_wrong_recovery_code(monkeypatch: pytest.MonkeyPatch,
                                                                  settings: Settings) -> None:
    calls: list[bytes] = []
    real = totp.argon2id

    def counting(secret: bytes, *args: object, **kwargs: object) -> bytes:
        calls.append(secret)
        return real(secret, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(totp, "argon2id", counting)
    store = open_store(settings)
    try:
        with pytest.raises(coordinators.LoginFailed):
            coordinators.login(store, settings, "alice", "not the passphrase at all", "abcd-efgh-jkmn")
        assert len(calls) == 1  # as many as a right passphrase with a wrong recovery code would cost
        calls.clear()
        with pytest.raises(coordinators.LoginFailed):
            coordinators.login(store, settings, "alice", "not the passphrase at all", "123456")
        assert calls == []  # a TOTP code costs no Argon2 either way
    finally:
        store.close()
