"""aidnet's session cookies are Flask's own on the wire (aidnet/sessions.py), signed and checked the same way."""

from __future__ import annotations

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface

from aidnet.web.sessions import CookieSessions


def _cookie_from(app: Flask, interface: SecureCookieSessionInterface, data: dict[str, str]) -> str:
    serializer = interface.get_signing_serializer(app)
    assert serializer is not None
    return str(serializer.dumps(data))


def _read_with(app: Flask, interface: SecureCookieSessionInterface, cookie: str) -> dict[str, str]:
    with app.test_request_context("/", headers={"Cookie": f"{app.config['SESSION_COOKIE_NAME']}={cookie}"}):
        session = interface.open_session(app, request)
        assert session is not None
        return dict(session)


def test_cookies_are_flasks_own_both_ways(app: Flask) -> None:
    assert isinstance(app.session_interface, CookieSessions)
    data = {"csrf_token": "a" * 40}
    assert _read_with(app, CookieSessions(), _cookie_from(app, SecureCookieSessionInterface(), data)) == data
    assert _read_with(app, SecureCookieSessionInterface(), _cookie_from(app, CookieSessions(), data)) == data


def test_a_tampered_cookie_or_another_key_gives_an_empty_session(app: Flask) -> None:
    ours = CookieSessions()
    cookie = _cookie_from(app, ours, {"csrf_token": "b" * 40})
    assert _read_with(app, ours, cookie) == {"csrf_token": "b" * 40}
    signed, signature = cookie.rsplit(".", 1)
    assert _read_with(app, ours, f"{signed}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}") == {}
    app.secret_key = "another key entirely " * 2  # the kept serializer must follow the key
    assert _read_with(app, ours, cookie) == {}
