"""Every requester page, in every language, weighs at most 16 KB on the wire in at most two requests.

Each page is fetched from a real `aidnet serve` with http.client; everything
it references (stylesheets, icons, images, scripts, fonts, frames, CSS
url()s and @imports) is fetched too, and a browser's automatic /favicon.ico
is counted when the page names no icon. Bytes are the status line, headers
and body as they came over the socket (the server does not compress).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from helpers.instance import PASSPHRASE
from helpers.live import Client, LiveServer, serve_new_instance
from helpers.pages import codename_from, hidden, reply_data
from helpers.weight import BUDGET, MAX_REQUESTS, Browserless

pytestmark = pytest.mark.server

PREFIXES = {"en": "", "es": "/es", "fr": "/fr", "ar": "/ar"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from serve_new_instance(tmp_path_factory.mktemp("weight"))


def _coordinator_reply(server: LiveServer, text: str) -> None:
    c = Client(server.url)
    login = c.get("/coordinator/login").body
    assert c.post("/coordinator/login", {"csrf_token": hidden(login, "csrf_token"), "handle": "alice",
                                         "passphrase": PASSPHRASE}).status == 303
    request_id = re.search(r"/coordinator/request/([0-9a-f]{32})", c.get("/coordinator/").body).group(1)
    page = c.get(f"/coordinator/request/{request_id}").body
    assert c.post(f"/coordinator/request/{request_id}/reply", reply_data(page, text)).status == 303


@pytest.mark.parametrize("language", list(PREFIXES))
def test_every_requester_page_fits_the_budget(server: LiveServer, language: str) -> None:
    prefix = PREFIXES[language]
    b = Browserless(server.url)
    weighed: dict[str, tuple[int, int, list[str]]] = {}

    def page(name: str, path: str, form: dict[str, str] | None = None, expect: int = 200) -> str:
        status, size, body = b.fetch(path, form)
        assert status == expect, (name, status)
        weighed[name] = b.weigh(path, status, size, body)
        return body

    ask = page("ask", prefix + "/")
    fields = {"csrf_token": hidden(ask, "csrf_token"), "form_nonce": hidden(ask, "form_nonce"),
              "category": "food", "area": "north", "need": "", "contact": "", "urgency": "today"}
    page("ask with errors", prefix + "/", dict(fields, category=""), 400)
    # A full request: the longest text the form takes, in a script that costs two bytes a letter.
    receipt = page("receipt", prefix + "/", dict(fields, need="ب" * 4000, contact="ج" * 300, for_someone_else="y"), 201)
    codename = codename_from(receipt)
    _coordinator_reply(server, "A reply of an ordinary length: we have rice and can bring it on Friday morning.")
    status_form = page("status form", prefix + "/status")
    page("status not found", prefix + "/status", {"csrf_token": hidden(status_form, "csrf_token"),
                                                  "codename": "bako mize tula bako mize tula bako"}, 404)
    status = page("status", prefix + "/status", {"csrf_token": hidden(status_form, "csrf_token"), "codename": codename})
    answered = page("answer sent", prefix + "/status/answer", {
        "csrf_token": hidden(status, "csrf_token"), "codename": codename, "form_nonce": hidden(status, "form_nonce"),
        "answer": "Thank you, Friday morning is good."})
    page("withdraw unconfirmed", prefix + "/status/withdraw",
         {"csrf_token": hidden(answered, "csrf_token"), "codename": codename}, 400)
    page("erased", prefix + "/status/withdraw",
         {"csrf_token": hidden(answered, "csrf_token"), "codename": codename, "confirm": "y"})
    page("not found", prefix + "/nowhere", expect=404)
    report = {name: (requests, total) for name, (requests, total, _p) in weighed.items()}
    for name, (requests, total, problems) in weighed.items():
        assert problems == [], (language, name, problems)
        assert requests <= MAX_REQUESTS, (language, name, requests)
        assert total <= BUDGET, (language, name, total, report)


@pytest.mark.parametrize("language", list(PREFIXES))
def test_offer_and_transparency_pages_fit_the_budget(server: LiveServer, language: str) -> None:
    b = Browserless(server.url)
    for path in ("/offer", "/offer/status", "/transparency/"):
        status, size, body = b.fetch(PREFIXES[language] + path)
        assert status == 200, path
        requests, total, problems = b.weigh(PREFIXES[language] + path, status, size, body)
        assert problems == [] and requests <= MAX_REQUESTS and total <= BUDGET, (language, path, requests, total, problems)


def test_the_icon_is_tiny_at_both_addresses(server: LiveServer) -> None:
    b = Browserless(server.url)
    for path in ("/favicon.ico", "/static/favicon.ico", "/ar/static/favicon.ico"):
        status, size, body = b.fetch(path)
        assert status == 200 and size < 1024, path
