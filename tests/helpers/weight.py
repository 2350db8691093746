"""Weighing a page as a browser loads it: every request and every byte on the wire, with what it references.

Bytes are the status line, headers and body as they came over the socket (the server does not compress);
a browser's automatic /favicon.ico is counted when the page names no icon.
"""

from __future__ import annotations

import http.client
import re
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin, urlsplit

BUDGET = 16 * 1024
MAX_REQUESTS = 2


class References(HTMLParser):
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
        parser = References()
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
