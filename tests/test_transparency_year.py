"""The transparency page after a year: twelve monthly releases and a year of decisions, served by a real
`aidnet serve`: its weight in every language, w3m at 40 columns, the plain-text figures and the data
dictionary."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import unicodedata
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from helpers.live import LiveServer, start_server
from helpers.pagecheck import page_problems
from helpers.record import MONTHS, build_year
from helpers.weight import BUDGET, MAX_REQUESTS, Browserless

from aidnet.config import Settings
from aidnet.exports import files
from aidnet.store import open_store
from aidnet.store import releases as release_rows

pytestmark = pytest.mark.server

PREFIXES = {"en": "", "es": "/es", "fr": "/fr", "ar": "/ar"}
W3M = shutil.which("w3m") or "/usr/bin/w3m"
HASH_LINE = re.compile(r"[0-9a-f]{64}")


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, LiveServer]]:
    root = tmp_path_factory.mktemp("year")
    group, settings = build_year(root)
    group.close()
    server = start_server(settings.instance, root / "logs")
    try:
        yield settings, server
    finally:
        server.stop()


def _get(server: LiveServer, path: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(server.url + path, timeout=30) as answer:  # noqa: S310 (our own test server)
        return answer.status, answer.headers.get("Content-Type", ""), answer.read().decode("utf-8")


class _Figures(HTMLParser):
    """Headings, and every figure as the page shows it: totals, bars, the decisions of each month."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.figures: list[str] = []
        self._stack: list[tuple[str, dict[str, str | None]]] = []
        self._text = ""
        self._label = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._stack.append((tag, dict(attrs)))
        if tag in ("li", "p", "dd", "dt", "h1", "h2", "h3"):
            self._text = ""
        if tag == "li":
            self._label = ""

    def handle_data(self, data: str) -> None:
        self._text += data

    def handle_endtag(self, tag: str) -> None:
        if not self._stack:
            return
        _tag, attrs = self._stack.pop()
        text = " ".join(self._text.replace("\u00a0", " ").split())
        parent = self._stack[-1] if self._stack else ("", {})
        if tag in ("h1", "h2", "h3") and text:
            self.headings.append(text)
        elif tag == "p" and attrs.get("class") == "total":
            self.figures.append(text.split(" ", 1)[1] if " " in text else text)
        elif tag == "span" and parent[0] == "li":
            self._label = text
        elif tag == "li" and self._label and text.startswith(self._label):
            self.figures.append(text[len(self._label):].strip())  # what follows the label: the figure
        elif tag == "dd" and parent[0] == "dl" and parent[1].get("class") == "months":
            self.figures += [part.strip() for part in text.split(",")]


def _width(line: str) -> int:
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


@pytest.mark.parametrize("language", list(PREFIXES))
def test_a_year_of_releases_and_decisions_stays_under_16_kb(year: tuple[Settings, LiveServer], language: str) -> None:
    _settings, server = year
    b = Browserless(server.url)
    status, size, body = b.fetch(PREFIXES[language] + "/transparency/")
    assert status == 200 and "2026-02" in body and "2025-04" in body
    requests, total, problems = b.weigh(PREFIXES[language] + "/transparency/", status, size, body)
    assert problems == [] and page_problems(body) == []
    assert requests <= MAX_REQUESTS and total <= BUDGET, (language, requests, total)
    # All twelve releases are reachable, and every month of the record is there.
    assert all(f'href="?period={m}"' in body for m in MONTHS[:-1]) and body.count("\u00a0") >= 12 * 6


@pytest.mark.parametrize("language", list(PREFIXES))
def test_the_page_reads_in_w3m_at_40_columns(year: tuple[Settings, LiveServer], language: str,
                                             tmp_path: Path) -> None:
    """Every heading and every figure is there, each figure whole on one line; no line is wider than 40
    columns except a 64-digit hash, which stands whole on its own line so it can be copied."""
    assert Path(W3M).exists(), "w3m missing: apt-get install w3m (ops/bootstrap.sh test does)"
    _settings, server = year
    _s, _t, html = _get(server, PREFIXES[language] + "/transparency/")
    found = _Figures()
    found.feed(html)
    assert len(found.figures) > 12 * 6 + 20 and len(found.headings) > 6
    shown = subprocess.run([W3M, "-dump", "-cols", "40", "-O", "UTF-8", server.url + PREFIXES[language] + "/transparency/"],
                           capture_output=True, timeout=30, env={"HOME": str(tmp_path), "TERM": "dumb",
                                                                 "LANG": "C.UTF-8"}, check=True)
    lines = [" ".join(line.replace("\u00a0", " ").split()) for line in shown.stdout.decode("utf-8").splitlines()]
    wide = [line for line in lines if _width(line) > 40 and not HASH_LINE.fullmatch(line)]
    assert wide == [], wide
    text = " ".join(" ".join(lines).split())
    assert [h for h in found.headings if h not in text] == []
    cut = [f for f in found.figures if not any(f in line for line in lines)]
    assert cut == [], cut
    assert any(HASH_LINE.fullmatch(line) for line in lines)  # the genesis and head, whole


def _manifest(settings: Settings, period: str) -> dict[str, object]:
    with open_store(settings) as store:
        row = release_rows.release(store, period)
    assert row is not None
    return json.loads(row.manifest)  # type: ignore[no-any-return]


def test_the_plain_text_has_the_signed_numbers_and_margins(year: tuple[Settings, LiveServer]) -> None:
    settings, server = year
    period = MONTHS[-1]
    data = _manifest(settings, period)
    status, kind, english = _get(server, f"/transparency/files/aidnet-{period}.txt")
    assert status == 200 and kind.startswith("text/plain") and f"aidnet-{period}.json" in english
    figures = 0
    for table in data["tables"]:  # type: ignore[attr-defined]
        for row, col, value in table["values"]:
            level = "total" if (row, col) == ("*", "*") else "rows" if col == "*" else "cols"
            figure = f"about {value}, ± {table['margin'][level]}"
            if level == "total":
                assert f"Total: {figure}" in english, (table["name"], figure)
            else:
                assert re.search(rf"^  [^\n]+: {re.escape(figure)}$", english, re.M), (table["name"], row, col)
            figures += 1
    assert figures == len(re.findall(r": about \d+, ± \d+$", english, re.M))
    assert max(len(line) for line in english.splitlines()) < 400
    # In Spanish: the same figures in the same order, in Spanish words.
    _s, _k, spanish = _get(server, f"/es/transparency/files/aidnet-{period}.txt")
    assert re.findall(r"\d+, ± \d+", spanish) == re.findall(r"\d+, ± \d+", english) and "unos " in spanish
    assert "Solicitudes recibidas" in spanish


@pytest.mark.parametrize("language", list(PREFIXES))
def test_the_data_dictionary_names_every_column_and_key(year: tuple[Settings, LiveServer], language: str) -> None:
    settings, server = year
    status, _kind, html = _get(server, PREFIXES[language] + "/transparency/dictionary")
    assert status == 200 and page_problems(html) == []
    data = _manifest(settings, MONTHS[-1])
    described = set(re.findall(r"<code>([^<]+)</code>", html))
    keys = set(data) | {key for table in data["tables"] for key in table}  # type: ignore[attr-defined]
    names = {table["name"] for table in data["tables"]}  # type: ignore[attr-defined]
    csv_columns = set(files.render_csv(data).decode().splitlines()[0].split(","))
    assert keys | names | csv_columns | {files.WITHHELD, "*", "unknown", "all"} <= described, \
        (keys | names | csv_columns) - described
    translated = {"es": "La unidad de privacidad", "fr": "L'unité de confidentialité", "ar": "وحدة الخصوصية",
                  "en": "The privacy unit"}[language]
    assert translated in html.replace("&#39;", "'")
    _s, _k, page = _get(server, PREFIXES[language] + "/transparency/")
    assert f'href="{PREFIXES[language]}/transparency/dictionary"' in page
