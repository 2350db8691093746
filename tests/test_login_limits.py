"""Login limits that stop guessing, not owners; a new session and CSRF secret at login; logout that ends it."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from helpers.instance import PASSPHRASE
from helpers.pages import Auth, hidden

import crypto
from aidnet.config import Settings
from aidnet.records import coordinators
from aidnet.store import Store

pytestmark = pytest.mark.serial  # the limits count in clock minutes: each test must run inside one


@pytest.fixture
def argon2_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Counts every Argon2 derivation a login makes (a real check, or the cost burnt for an unknown handle)."""
    calls: list[str] = []
    burn, unwrap = crypto.burn_argon2, crypto.unwrap_with_passphrase

    def counted_burn(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append("burn")
        return burn(*args, **kwargs)

    def counted_unwrap(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append("unwrap")
        return unwrap(*args, **kwargs)

    monkeypatch.setattr(crypto, "burn_argon2", counted_burn)
    monkeypatch.setattr(crypto, "unwrap_with_passphrase", counted_unwrap)
    yield calls


def not_near_a_minute_boundary() -> None:
    """The per-minute checks count in clock minutes: start a test well inside one."""
    while time.time() % 60 > 45:
        time.sleep(1)


def test_the_global_limit_applies_after_101_failures_under_random_handles(
        client: FlaskClient, auth: Auth, argon2_calls: list[str]) -> None:
    not_near_a_minute_boundary()
    for _ in range(coordinators.THROTTLE_GLOBAL):
        assert auth.login(handle=f"guess-{secrets.token_hex(6)}", passphrase="wrong").status_code == 403
    assert len(argon2_calls) == coordinators.THROTTLE_GLOBAL
    # The 101st failure, and every one after it, meets the limit.
    for _ in range(5):
        blocked = auth.login(handle=f"guess-{secrets.token_hex(6)}", passphrase="wrong")
        assert blocked.status_code == 429 and blocked.headers["Retry-After"] == "60"
        assert "Too many wrong attempts. Please wait a minute and try again." in blocked.get_data(as_text=True)
    # Past the limit, an unknown handle costs no Argon2 at all: the work stays bounded.
    assert len(argon2_calls) == coordinators.THROTTLE_GLOBAL
    # And the owner of a real handle is not locked out by what others guessed.
    assert auth.login(handle="alice", passphrase=PASSPHRASE).status_code == 303


def test_a_right_passphrase_gets_in_after_others_guessed_wrong_at_the_handle(
        client: FlaskClient, auth: Auth) -> None:
    not_near_a_minute_boundary()
    for _ in range(coordinators.THROTTLE_PER_HANDLE):
        assert auth.login(passphrase="wrong wrong wrong").status_code == 403
    assert auth.login(passphrase=PASSPHRASE).status_code == 303


def test_a_throttled_handle_has_only_a_few_attempts_checked_each_minute(
        client: FlaskClient, auth: Auth, argon2_calls: list[str], store: Store) -> None:
    not_near_a_minute_boundary()
    for _ in range(coordinators.THROTTLE_PER_HANDLE):
        assert auth.login(passphrase="wrong wrong wrong").status_code == 403
    checked = len(argon2_calls)
    answers = [auth.login(passphrase="wrong wrong wrong").status_code for _ in range(6)]
    assert answers == [429] * 6
    assert len(argon2_calls) - checked == coordinators.THROTTLED_CHECKS_PER_MINUTE
    # Even then, the counts are kept under hashed keys, never the handle.
    assert b"alice" not in b"".join(row[0] for row in store.conn.execute("SELECT key FROM throttle"))


def test_an_unknown_handle_under_its_own_limit_is_refused_without_argon2(
        client: FlaskClient, auth: Auth, argon2_calls: list[str]) -> None:
    for _ in range(coordinators.THROTTLE_PER_HANDLE):
        assert auth.login(handle="mallory", passphrase="wrong").status_code == 403
    before = len(argon2_calls)
    assert auth.login(handle="mallory", passphrase="wrong").status_code == 429
    assert len(argon2_calls) == before


def _coordinator_token(client: FlaskClient) -> str:
    return hidden(client.get("/coordinator/").get_data(as_text=True), "csrf_token")


def test_login_rotates_the_csrf_secret_so_a_token_from_before_login_no_longer_works(
        client: FlaskClient) -> None:
    before = hidden(client.get("/coordinator/login").get_data(as_text=True), "csrf_token")
    logged_in = client.post("/coordinator/login",
                            data={"csrf_token": before, "handle": "alice", "passphrase": PASSPHRASE})
    assert logged_in.status_code == 303
    # The token the login page gave out is refused now: logging out with it only asks to confirm.
    stale = client.post("/coordinator/logout", data={"csrf_token": before})
    assert stale.status_code == 400
    assert client.get("/coordinator/").status_code == 200  # still logged in
    after = _coordinator_token(client)
    assert after != before
    assert client.post("/coordinator/logout", data={"csrf_token": after}).status_code == 303
    assert client.get("/coordinator/").status_code == 302


def test_login_ends_the_session_the_browser_held_before(client: FlaskClient, auth: Auth) -> None:
    assert auth.login().status_code == 303
    first = client.get_cookie("aidnet_coordinator", path="/coordinator").value
    assert auth.login().status_code == 303
    second = client.get_cookie("aidnet_coordinator", path="/coordinator").value
    assert second != first
    client.set_cookie("aidnet_coordinator", first, path="/coordinator")
    assert client.get("/coordinator/").status_code == 302  # the old session id is gone on the server


def test_logout_with_a_stale_token_shows_a_confirm_form_and_then_ends_the_session(
        client: FlaskClient, auth: Auth, settings: Settings, store: Store) -> None:
    auth.login()
    cookie = client.get_cookie("aidnet_coordinator", path="/coordinator").value
    confirm = client.post("/coordinator/logout", data={"csrf_token": "stale"})
    page = confirm.get_data(as_text=True)
    assert confirm.status_code == 400
    assert "so you are still logged in. Press the button to log out now." in page
    # The cookie was not cleared behind the person's back: the page tells the truth.
    assert all("aidnet_coordinator" not in c for c in confirm.headers.getlist("Set-Cookie"))
    done = client.post("/coordinator/logout", data={"csrf_token": hidden(page, "csrf_token")})
    assert done.status_code == 303
    # Ended on the server: the old cookie, sent again, opens nothing.
    assert coordinators.resume(store, settings, base64.urlsafe_b64decode(cookie)) is None
