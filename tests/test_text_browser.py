"""The whole requester flow in w3m, a real text browser, in every language, 40 columns wide.

w3m fetches every page (GET, and POST with -post) from a real `aidnet serve`
and renders it with -dump: what is asserted is the text a person in a
terminal reads. w3m keeps session cookies only inside one process, so the
script carries the cookie between runs (-header) and fills the form body
from the fields of the page w3m fetched, as a person would by typing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from helpers.live import LiveServer, serve_new_instance
from helpers.pages import hidden

from aidnet.web import i18n

pytestmark = pytest.mark.server

W3M = shutil.which("w3m") or "/usr/bin/w3m"
PREFIXES = {"en": "", "es": "/es", "fr": "/fr", "ar": "/ar"}
COLUMNS = "40"  # a narrow terminal, like a small phone


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    assert Path(W3M).exists(), "w3m missing: apt-get install w3m (ops/bootstrap.sh test does)"
    yield from serve_new_instance(tmp_path_factory.mktemp("w3m"))


class W3m:
    def __init__(self, base: str, home: Path) -> None:
        self.base, self.home, self.cookie = base, home, ""

    def _run(self, args: list[str], stdin: bytes | None = None) -> str:
        result = subprocess.run(
            [W3M, "-o", "accept_cookie=0", "-o", "use_cookie=0", "-O", "UTF-8", "-I", "UTF-8", *args],
            input=stdin, capture_output=True, timeout=30, env={"HOME": str(self.home), "TERM": "dumb", "LANG": "C.UTF-8"},
        )
        assert result.returncode == 0, result.stderr.decode()[-500:]
        return result.stdout.decode("utf-8")

    def open(self, path: str, form: dict[str, str] | None = None) -> tuple[str, str]:
        """Fetch a page as w3m does; (the text w3m shows, the page's source for its form fields)."""
        args = ["-dump_both"]
        if self.cookie:
            args += ["-header", f"Cookie: {self.cookie}"]
        if form is not None:
            body = self.home / "body"
            body.write_text(urlencode(form), encoding="ascii")
            args += ["-post", str(body)]
        both = self._run([*args, self.base + path])
        head, _, source = both.partition("\r\n\r\n") if "\r\n\r\n" in both else both.partition("\n\n")
        cookie = re.search(r"^Set-Cookie: (aidnet=[^;]*)", head, re.MULTILINE | re.IGNORECASE)
        if cookie:
            self.cookie = cookie.group(1)
        shown = self._run(["-dump", "-cols", COLUMNS, "-T", "text/html"], stdin=source.encode("utf-8"))
        return shown, source


def texts(language: str) -> dict[str, str]:
    catalog = i18n.compile_catalogue(i18n.catalogue_files()[language]) if language != "en" else None

    def t(s: str) -> str:
        return str(catalog.gettext(s)) if catalog else s

    return {k: t(v) for k, v in {
        "ask": "Ask for help", "required": "required", "need": "What do you need?", "someone": "I am asking for someone else",
        "problem": "There is a problem", "category": "Choose the kind of help from the list.",
        "received": "Your request was received", "status": "Received, not yet read",
        "sent": "Your answer was sent. Only you and the coordinators can read it.",
        "tick": "Tick the box to confirm that you want to erase your request.", "erased": "Your request was erased",
        "notfound": "We could not find a request with that codename. Check the words and try again.",
    }.items()}


def squash(text: str) -> str:
    """w3m wraps lines at 40 columns: compare text with the wrapping taken out."""
    return re.sub(r"\s+", " ", text)


@pytest.mark.parametrize("language", list(PREFIXES))
def test_request_flow_in_w3m(server: LiveServer, tmp_path: Path, language: str) -> None:
    prefix, t = PREFIXES[language], texts(language)
    w3m = W3m(server.url, tmp_path)
    shown, source = w3m.open(prefix + "/")
    flat = squash(shown)
    # The form reads as words: title, labels with "(required)", the someone-else box, the language links.
    for key in ("ask", "need", "someone"):
        assert squash(t[key]) in flat, key
    assert f"({t['required']})" in flat
    assert "English" in flat and "Español" in flat and "Français" in flat and "العربية" in flat
    fields = {"csrf_token": hidden(source, "csrf_token"), "form_nonce": hidden(source, "form_nonce"),
              "category": "", "area": "north", "need": "Nappies, size 4", "contact": "", "urgency": "today"}
    shown, source = w3m.open(prefix + "/", fields)
    flat = squash(shown)
    assert squash(t["problem"]) in flat and squash(t["category"]) in flat
    assert flat.index(squash(t["problem"])) < flat.index(squash(t["need"]))  # the summary comes first
    assert "Nappies, size 4" in shown  # what was typed is kept
    shown, source = w3m.open(prefix + "/", dict(fields, category="food", for_someone_else="y",
                                                form_nonce=hidden(source, "form_nonce")))
    assert squash(t["received"]) in squash(shown)
    codename = re.search(r'id="codename" lang="zxx">([a-z ]+)<', source).group(1)
    assert codename in squash(shown)  # the codename is on screen, to copy down
    shown, source = w3m.open(prefix + "/status")
    shown, source = w3m.open(prefix + "/status", {"csrf_token": hidden(source, "csrf_token"), "codename": "bako mize"})
    assert squash(t["notfound"]) in squash(shown)
    shown, source = w3m.open(prefix + "/status", {"csrf_token": hidden(source, "csrf_token"), "codename": codename})
    assert squash(t["status"]) in squash(shown)
    base = {"csrf_token": hidden(source, "csrf_token"), "codename": codename}
    shown, source = w3m.open(prefix + "/status/answer", dict(base, form_nonce=hidden(source, "form_nonce"),
                                                             answer="Mornings are best"))
    assert squash(t["sent"]) in squash(shown) and "Mornings are best" in shown
    # w3m does not enforce `required`: the server's own message asks for the tick.
    shown, source = w3m.open(prefix + "/status/withdraw", base)
    assert squash(t["tick"]) in squash(shown)
    shown, source = w3m.open(prefix + "/status/withdraw", dict(base, confirm="y"))
    assert squash(t["erased"]) in squash(shown)


class W3mCoordinator(W3m):
    """w3m for the coordinator pages: carries every cookie (the form session and the login)."""

    def __init__(self, base: str, home: Path) -> None:
        super().__init__(base, home)
        self.cookies: dict[str, str] = {}

    def open(self, path: str, form: dict[str, str] | None = None) -> tuple[str, str]:
        args = ["-dump_both"]
        if self.cookies:
            args += ["-header", "Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items())]
        if form is not None:
            body = self.home / "body"
            body.write_text(urlencode(form), encoding="ascii")
            # The answer to a form sets the login cookie on its redirect: stop there and read it, as a
            # browser would keep it, then open where it points.
            args += ["-post", str(body), "-o", "follow_redirection=0"]
        both = self._run([*args, self.base + path])
        head, _, source = both.partition("\r\n\r\n") if "\r\n\r\n" in both else both.partition("\n\n")
        for name, value in re.findall(r"^Set-Cookie: ([a-z_]+)=([^;]*)", head, re.MULTILINE | re.IGNORECASE):
            self.cookies[name] = value
        moved = re.search(r"^Location: (\S+)", head, re.MULTILINE | re.IGNORECASE)
        if form is not None and moved:
            return self.open(moved.group(1).removeprefix(self.base))
        shown = self._run(["-dump", "-cols", COLUMNS, "-T", "text/html"], stdin=source.encode("utf-8"))
        return shown, source


def test_a_coordinator_works_in_w3m(server: LiveServer, tmp_path: Path) -> None:
    from helpers.instance import PASSPHRASE

    public = W3m(server.url, tmp_path / "public")
    (tmp_path / "public").mkdir()
    _shown, source = public.open("/")
    public.open("/", {"csrf_token": hidden(source, "csrf_token"), "form_nonce": hidden(source, "form_nonce"),
                      "category": "food", "area": "north", "need": "W3MMARK soup", "contact": "", "urgency": "today"})
    w3m = W3mCoordinator(server.url, tmp_path)
    _shown, source = w3m.open("/coordinator/login?lang=es")
    w3m.open("/coordinator/login?lang=es", {"csrf_token": hidden(source, "csrf_token"), "handle": "alice",
                                            "passphrase": PASSPHRASE, "code": ""})
    shown, source = w3m.open("/coordinator/")
    flat = squash(shown)
    assert "Bandeja de entrada" in flat and "W3MMARK" in flat  # in the account's language, the need readable
    request_id = re.search(r"/coordinator/request/([0-9a-f]{32})", source).group(1)  # type: ignore[union-attr]
    shown, source = w3m.open(f"/coordinator/request/{request_id}")
    w3m.open(f"/coordinator/request/{request_id}/handler", {"csrf_token": hidden(source, "csrf_token"), "handler": "1"})
    shown, _source = w3m.open(f"/coordinator/request/{request_id}")
    assert "A cargo de alice" in squash(shown)
