"""Fuzzing every form handler through the Flask test client.

The POST routes are read from the app's own URL map, so a form added later
is fuzzed too. Field names come from the pages the app renders; values are
hypothesis text, valid choices, a real codename and request id, or junk.
Whatever arrives, the answer is a page with a 2xx/3xx/4xx status: never a
500 (an unhandled exception) and never a 503 on a healthy disk.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers.pages import Auth, codename_from, hidden, request_form
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
_NAMES = re.compile(r'<(?:input|textarea|select)[^>]*\bname="([^"]+)"')
_ID = re.compile(r"/coordinator/request/([0-9a-f]{32})")
_ARG = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")
PUBLIC_SKIP = ("/coordinator",)  # anonymous fuzzing of coordinator routes only meets the login redirect
LOGGED_IN_SKIP = ("/coordinator/login", "/coordinator/logout")  # keep the session (and the throttle) intact

text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=300)
junk = st.sampled_from(["", " ", "\x00", "0", "-1", "99999999999999999999", "food", "north", "today",
                        "this_week", "new", "in_progress", "fulfilled", "closed", "y", "on", "true",
                        "a" * 5000, "%ff", "<script>", "2024-01-01", "1970-13-45", "[]", "{}", "\u202e"])


def _post_rules(app: Flask, skip: tuple[str, ...], only: str | None = None) -> list[str]:
    rules = []
    for rule in app.url_map.iter_rules():
        if "POST" in (rule.methods or set()) and not rule.rule.startswith(skip):
            if only is None or rule.rule.startswith(only):
                rules.append(rule.rule)
    assert rules
    return sorted(rules)


def _field_names(client: FlaskClient, app: Flask, extra_pages: list[str]) -> list[str]:
    names = set()
    pages = [r.rule for r in app.url_map.iter_rules()
             if "GET" in (r.methods or set()) and "<" not in r.rule and not r.rule.startswith("/static")]
    for page in pages + extra_pages:
        response = client.get(page)
        if response.status_code == 200 and response.mimetype == "text/html":
            names.update(_NAMES.findall(response.get_data(as_text=True)))
    names.discard("csrf_token")
    return sorted(names)


def _fill(rule: str, draw: Any, ids: list[str]) -> str:
    def value(_match: re.Match[str]) -> str:
        choice = draw(st.sampled_from(["id", "id", "junk"]))
        if choice == "id" and ids:
            return ids[0]
        return draw(st.sampled_from(["x", "0" * 32, "zz", "%20", "A" * 300, "..", "ff" * 16]))
    return _ARG.sub(value, rule)


def _fuzz(client: FlaskClient, rules: list[str], names: list[str], good: dict[str, str], ids: list[str],
          data: st.DataObject) -> None:
    rule = data.draw(st.sampled_from(rules), label="route")
    path = _fill(rule, data.draw, ids)
    form: dict[str, str] = {}
    if data.draw(st.booleans(), label="valid csrf"):
        form["csrf_token"] = good["csrf_token"]
    for name in data.draw(st.lists(st.sampled_from(names), max_size=8, unique=True), label="fields"):
        kind = data.draw(st.sampled_from(["good", "text", "junk"]), label=f"{name} kind")
        if kind == "good" and name in good:
            form[name] = good[name]
        else:
            form[name] = data.draw(text if kind == "text" else junk, label=name)
    if data.draw(st.integers(0, 9), label="raw body") == 0:
        body = data.draw(st.binary(max_size=400), label="body")
        response = client.post(path, data=body, content_type="application/x-www-form-urlencoded")
    else:
        response = client.post(path, data=form)
    assert response.status_code < 500, (rule, response.status_code)


def _good_values(client: FlaskClient) -> tuple[dict[str, str], list[str]]:
    form = request_form(client)
    receipt = client.post("/", data=form)
    assert receipt.status_code == 201
    good = dict(form, codename=codename_from(receipt.get_data(as_text=True)), status="in_progress",
                text="A reply", answer="An answer", confirm="y", handle="alice")
    return good, []


def test_fuzz_public_forms(app: Flask, client: FlaskClient) -> None:
    good, _ = _good_values(client)
    rules = _post_rules(app, PUBLIC_SKIP)
    names = _field_names(client, app, [])
    # The requester's own page (answer, withdraw) exists only as the answer to a POST.
    status_page = client.post("/status", data={"csrf_token": good["csrf_token"], "codename": good["codename"]})
    assert status_page.status_code == 200
    names = sorted(set(names) | set(_NAMES.findall(status_page.get_data(as_text=True))) - {"csrf_token"})
    assert {"need", "category", "codename", "answer"} <= set(names), names

    @FUZZ
    @given(st.data())
    def run(data: st.DataObject) -> None:
        good["csrf_token"] = hidden(client.get("/").get_data(as_text=True), "csrf_token")
        good["form_nonce"] = hidden(client.get("/").get_data(as_text=True), "form_nonce")
        _fuzz(client, rules, names, good, [], data)

    run()


def test_fuzz_login_form(app: Flask, client: FlaskClient) -> None:
    @FUZZ
    @given(text, text, st.booleans())
    def run(handle: str, passphrase: str, csrf: bool) -> None:
        token = hidden(client.get("/coordinator/login").get_data(as_text=True), "csrf_token")
        form = {"handle": handle, "passphrase": passphrase, **({"csrf_token": token} if csrf else {})}
        assert client.post("/coordinator/login", data=form).status_code in (303, 400, 403, 429)

    run()


@pytest.mark.parametrize("area", ["/coordinator/decisions", "/coordinator/ (all the rest)"])
def test_fuzz_coordinator_forms(app: Flask, client: FlaskClient, auth: Auth, area: str) -> None:
    good, _ = _good_values(client)
    assert auth.login().status_code == 303
    inbox = client.get("/coordinator/").get_data(as_text=True)
    ids = _ID.findall(inbox)
    assert ids
    rules = [r for r in _post_rules(app, LOGGED_IN_SKIP, only="/coordinator")
             if r.startswith("/coordinator/decisions") == (area == "/coordinator/decisions")]
    if not rules:
        pytest.fail(f"no POST routes under {area}")
    names = _field_names(client, app, [f"/coordinator/request/{ids[0]}"])
    good["csrf_token"] = hidden(inbox, "csrf_token")

    @FUZZ
    @given(st.data())
    def run(data: st.DataObject) -> None:
        _fuzz(client, rules, names, good, ids, data)
        assert client.get("/coordinator/").status_code == 200  # still logged in, inbox still renders

    run()
