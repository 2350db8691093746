"""Pages drawn once and filled in (aidnet/prerender.py) are the pages a full render gives."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from flask import Flask
from helpers.pages import codename_from, request_form

from aidnet.web import prerender

PAGES = ["/", "/status", "/offer"]
PREFIXES = ["", "/en", "/es", "/fr", "/ar"]
_TOKENS = re.compile(r'(name="(?:csrf_token|form_nonce)" type="hidden" value=")[^"]*(")')
_CODENAME = re.compile(r'(<p class="codename" id="codename" lang="zxx">)[a-z ]+(</p>)')


def _normal(html: str) -> str:
    """The page with its per-visit values (tokens, codename) blanked out."""
    return _CODENAME.sub(r"\1-\2", _TOKENS.sub(r"\1-\2", html))


def _full_render(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prerender, "page", lambda _name, render, values: render(values))


def test_shell_pages_match_a_full_render(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    client = app.test_client()
    drawn = {}
    for prefix in PREFIXES:  # one app, every language: no language may get another's page
        for path in PAGES:
            client.get(prefix + path)  # the first visit draws the shell
            response = client.get(prefix + path)
            assert response.status_code == 200
            drawn[prefix + path] = response.get_data(as_text=True)
            assert drawn[prefix + path].count('name="csrf_token"') == 1
    cached = app.extensions[prerender.EXTENSION]
    assert len(cached) == len(PREFIXES) * len(PAGES)
    assert all(shell is not None for shell in cached.values())  # every placeholder came through
    with monkeypatch.context() as m:
        _full_render(m)
        for address, page in drawn.items():
            assert _normal(client.get(address).get_data(as_text=True)) == _normal(page), address


def test_each_visit_gets_its_own_tokens(client) -> None:  # type: ignore[no-untyped-def]
    first, second = (client.get("/").get_data(as_text=True) for _ in range(2))
    nonce = re.compile(r'name="form_nonce" type="hidden" value="([^"]*)"')
    assert nonce.search(first).group(1) != nonce.search(second).group(1)  # type: ignore[union-attr]


def test_receipts_match_a_full_render(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    client = app.test_client()
    client.post("/", data=request_form(client))  # the English receipt is drawn first
    receipts = []
    for _ in range(2):
        response = client.post("/es/", data=request_form(client))
        assert response.status_code == 201
        receipts.append(response.get_data(as_text=True))
    assert codename_from(receipts[0]) != codename_from(receipts[1])
    with monkeypatch.context() as m:
        _full_render(m)
        full = client.post("/es/", data=request_form(client)).get_data(as_text=True)
    assert _normal(full) == _normal(receipts[1])
    assert 'lang="es"' in receipts[1]


def test_a_query_string_never_reaches_the_shared_page(client) -> None:  # type: ignore[no-untyped-def]
    client.get("/?x=%3Cb%3Emarker-in-query%3C/b%3E")
    for path in ("/", "/?y=1"):
        assert "marker-in-query" not in client.get(path).get_data(as_text=True)


def test_a_placeholder_that_does_not_come_through_means_a_full_render_every_time() -> None:
    marks = {"csrf": "aidnetslotaaaa", "nonce": "aidnetslotbbbb"}
    assert prerender.cut("<p>aidnetslotaaaa</p>", marks) is None  # the nonce went missing
    shell = prerender.cut('<i>aidnetslotbbbb</i>"aidnetslotaaaa"', marks)
    assert shell is not None
    assert shell.fill({"csrf": 'x"<y', "nonce": "n&"}) == '<i>n&amp;</i>"x&#34;&lt;y"'


def test_a_page_that_filters_a_value_is_never_kept(app: Flask) -> None:
    """A placeholder survives urlencoding unchanged; the sample check still refuses to keep the page."""
    def render(values):  # type: ignore[no-untyped-def]
        return f'<a href="/status?c={quote(values["codename"])}">{values["codename"]}</a>'

    with app.test_request_context("/"):
        assert prerender.page("filtered", render, {"codename": "ab cd"}) == render({"codename": "ab cd"})
        assert app.extensions[prerender.EXTENSION][("filtered", "en", "", "/")] is None


def test_head_of_a_kept_page_is_fine(client) -> None:  # type: ignore[no-untyped-def]
    for path in PAGES:
        assert client.head(path).status_code == 200
