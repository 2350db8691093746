"""The public transparency page: the latest signed release, JS-free bars and tables, exact signed downloads."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from flask.testing import FlaskClient
from helpers.exports import TODAY, WEEK, plant, release, set_export
from helpers.pagecheck import header_problems, page_problems

from aidnet.config import Settings
from aidnet.exports import files


def test_nothing_published_yet(client: FlaskClient) -> None:
    page = client.get("/transparency/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Nothing has been published yet" in html
    assert not page_problems(html) and not header_problems(dict(page.headers), True)


def test_latest_release_as_bars_tables_and_signed_files(client: FlaskClient, settings: Settings) -> None:
    settings = set_export(settings, noise="false")
    plant(settings, WEEK, {("food", "north", "received"): 40, ("rent", "south", "received"): 20,
                           ("food", "south", "received"): 3})
    row, _ = release(settings)
    older, _ = release(settings, "2026-W08")
    page = client.get("/transparency/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert not page_problems(html) and not header_problems(dict(page.headers), True)
    assert "<svg" not in html.lower() and " style=" not in html.lower()
    assert f"Totals for {WEEK}" in html and "Requests received" in html and "Food" in html and "North" in html
    # The biggest category total is the full bar; bars are classes from the stylesheet, not inline styles.
    assert re.search(r'<b class="w20"></b></i> \d+</li>', html)
    assert "–" in html  # the withheld small cell
    key = files.parse_signature(row.signature)[0].hex()
    assert key in html and key == files.public_key_hex(settings.instance)
    names = files.file_names(WEEK)
    for name, body in zip(names, (row.manifest, row.csv, row.signature), strict=True):
        assert f'href="/transparency/files/{name}"' in html
        download = client.get(f"/transparency/files/{name}")
        assert download.status_code == 200 and download.data == body
        assert "attachment" in download.headers["Content-Disposition"]
    assert files.verify_bytes(client.get(f"/transparency/files/{names[0]}").data,
                                    client.get(f"/transparency/files/{names[1]}").data,
                                    client.get(f"/transparency/files/{names[2]}").data, bytes.fromhex(key))
    # The same figures as plain text, exact and withheld alike, in the page's language.
    text = client.get(f"/transparency/files/aidnet-{WEEK}.txt")
    words = text.get_data(as_text=True)
    assert text.status_code == 200 and text.headers["Content-Type"].startswith("text/plain")
    assert "Total: 63" in words and "  Food: 43" in words and "  Food, South: withheld" in words
    assert "oculto" in client.get(f"/es/transparency/files/aidnet-{WEEK}.txt").get_data(as_text=True)
    # Earlier releases stay reachable; unknown ones are not found.
    assert 'href="?period=2026-W08"' in html
    assert "Totals for 2026-W08" in client.get("/transparency/?period=2026-W08").get_data(as_text=True)
    assert older.period == "2026-W08"
    for missing in ("/transparency/?period=2026-W01", "/transparency/files/aidnet-2026-W01.csv",
                    "/transparency/files/aidnet-../../db.key", "/transparency/files/export.key"):
        assert client.get(missing).status_code == 404


@pytest.mark.parametrize("prefix", ["/es", "/ar"])
def test_page_in_other_languages(client: FlaskClient, settings: Settings, prefix: str) -> None:
    plant(settings, WEEK, {("food", "north", "received"): 40})
    release(settings, WEEK, TODAY + dt.timedelta(days=1))
    page = client.get(f"{prefix}/transparency/")
    assert page.status_code == 200 and not page_problems(page.get_data(as_text=True))


def test_noisy_release_shows_each_total_with_its_margin(client: FlaskClient, settings: Settings) -> None:
    plant(settings, WEEK, {("food", "north", "received"): 40, ("rent", "south", "received"): 10})
    row, _ = release(settings)
    data = json.loads(row.manifest)
    received = next(t for t in data["tables"] if t["name"] == "received")
    total = next(v for r, c, v in received["values"] if (r, c) == ("*", "*"))
    html = client.get("/transparency/").get_data(as_text=True)
    assert f"Total: about\u00a0{total},\u00a0±\u00a09" in html  # a figure never breaks across lines
    assert html.count(",\u00a0±\u00a037") == len(settings.categories) + len(settings.areas)  # every category and area of it
    assert "Requests received by area" in html and "<table" not in html  # no cross-table: only totals are drawn
    assert "<svg" not in html.lower() and "<script" not in html.lower() and " style=" not in html.lower()
    page = client.get("/transparency/")
    assert not page_problems(html) and not header_problems(dict(page.headers), True)
