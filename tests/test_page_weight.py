"""Every requester page, in every language, weighs at most 16 KB on the wire in at most two requests.

Each page is fetched from a real `aidnet serve` with http.client; everything
it references (stylesheets, icons, images, scripts, fonts, frames, CSS
url()s and @imports) is fetched too, and a browser's automatic /favicon.ico
is counted when the page names no icon. Bytes are the status line, headers
and body as they came over the socket (the server does not compress).
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
from helpers.instance import PASSPHRASE
from helpers.live import Client, LiveServer, serve_new_instance
from helpers.pages import codename_from, hidden, reply_data

pytestmark = pytest.mark.server

BUDGET = 16 * 1024
MAX_REQUESTS = 2
PREFIXES = {"en": "", "es": "/es", "fr": "/fr", "ar": "/ar"}


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.has_icon = False
        self.inline_css: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "link" and a.get("href"):
            rel = (a.get("rel") or "").lower()
            if "icon" in rel:
                self.has_icon = True
            if rel in ("stylesheet", "icon", "shortcut icon", "preload", "prefetch", "apple-touch-icon", "manifest"):
                self.urls.append(a["href"] or "")
        for attr in ("src", "poster", "data", "background"):
            if a.get(attr):
                self.urls.append(a[attr] or "")
        if a.get("srcset"):
            self.urls += [part.strip().split(" ")[0] for part in (a["srcset"] or "").split(",")]
        if a.get("style"):
            self.inline_css.append(a["style"] or "")
        self._in_style = tag == "style"

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.inline_css.append(data)

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False


class Browserless:
    """Counts every request and every byte a page costs; keeps cookies like a browser."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.cookies: dict[str, str] = {}

    def fetch(self, path: str, form: dict[str, str] | None = None) -> tuple[int, int, str]:
        """(status, bytes on the wire, body) of one request."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request("POST" if form is not None else "GET", path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        head = f"HTTP/1.1 {response.status} {response.reason}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in response.getheaders()) + "\r\n"
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        conn.close()
        return response.status, len(head.encode("latin-1")) + len(data), data.decode("utf-8", "replace")

    def weigh(self, path: str, status: int, size: int, body: str) -> tuple[int, int, list[str]]:
        """Total (requests, bytes, problems) of a page already fetched, with everything it loads."""
        parser = _References()
        parser.feed(body)
        problems = []
        urls = list(dict.fromkeys(parser.urls))
        if not parser.has_icon:
            urls.append("/favicon.ico")  # what a browser asks for when the page names no icon
        css = " ".join(parser.inline_css)
        requests, total = 1, size
        for url in urls:
            target = urljoin(path, url)
            if urlsplit(target).netloc:
                problems.append(f"off-site {url}")
                continue
            _s, extra, sub = self.fetch(target)
            requests += 1
            total += extra
            if target.endswith(".css"):
                css += sub
        for pattern, what in ((r"@font-face", "web font"), (r"@import", "CSS import"), (r"url\(", "CSS url()"),
                              (r"\.svg\b|<svg", "SVG")):
            if re.search(pattern, css + body, re.IGNORECASE):
                problems.append(what)
        if re.search(r"<(img|picture|video|audio|iframe|object|embed|script)\b", body, re.IGNORECASE):
            problems.append("media or script element")
        return requests, total, problems


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
