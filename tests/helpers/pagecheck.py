"""What every page must satisfy: no script, no handler, no javascript:, nothing off-site."""

from __future__ import annotations

from html.parser import HTMLParser

URL_ATTRIBUTES = {"href", "src", "action", "formaction", "srcset", "poster", "data", "background", "cite", "xlink:href"}


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "iframe", "object", "embed", "base"):
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            value = (value or "").strip().lower()
            if name.startswith("on"):
                self.problems.append(f"handler {name}")
            if name in URL_ATTRIBUTES or (name == "content" and "url=" in value):
                if value.startswith("javascript:") or "javascript:" in value.replace(" ", ""):
                    self.problems.append(f"javascript: in {name}")
                if "//" in value or value.startswith(("http:", "https:", "data:")):
                    self.problems.append(f"off-site URL in {name}: {value}")
            if name == "style" and "url(" in value:
                self.problems.append("url() in style attribute")


def page_problems(html: str) -> list[str]:
    """Every violation in html; empty when the page is clean."""
    checker = _Checker()
    checker.feed(html)
    checker.close()
    if "<script" in html.lower():
        checker.problems.append("<script in source")
    return checker.problems


REQUIRED_HEADERS = ("Content-Security-Policy", "Referrer-Policy", "X-Content-Type-Options", "Permissions-Policy")


def header_problems(headers: dict[str, str], html: bool) -> list[str]:
    lower = {k.lower(): v for k, v in headers.items()}
    problems = [f"missing {h}" for h in REQUIRED_HEADERS if h.lower() not in lower]
    csp = lower.get("content-security-policy", "")
    for directive in ("default-src 'none'", "script-src 'none'", "frame-ancestors 'none'"):
        if directive not in csp:
            problems.append(f"CSP lacks {directive}")
    if lower.get("referrer-policy") != "no-referrer":
        problems.append("Referrer-Policy not no-referrer")
    if html and lower.get("cache-control") != "no-store":
        problems.append("page may be cached")
    return problems
