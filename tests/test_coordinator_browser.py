"""Every coordinator page in real headless Chromium at 320 px, in each coordinator's own language.

Two browsers log in through the real form: one with JavaScript off (what a volunteer uses in Tor Browser
at its Safest level), checking layout (no sideways scrolling), direction and markup; one with JavaScript
on only to inject axe-core (the pages never carry it) and scan each page at WCAG 2.2 A/AA. The language
is switched with the buttons every coordinator page shows, as a person would, and is the account's own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.axe import AXE, WIDTH, axe_violations
from helpers.browser import browser, click_and_wait, make_driver, quit_driver
from helpers.instance import PASSPHRASE
from helpers.live import Client, LiveServer, serve_new_instance
from helpers.pagecheck import page_problems
from helpers.pages import hidden, reply_data
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

pytestmark = [pytest.mark.browser, pytest.mark.server]

LANGUAGES = ("en", "es", "fr", "ar")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from serve_new_instance(tmp_path_factory.mktemp("coordinator-browser"))


@pytest.fixture(scope="module")
def pages(server: LiveServer) -> list[str]:
    """A request with a reply and an answer, an offer that fits it: every coordinator page has something."""
    public = Client(server.url)
    form = public.get("/").body
    public.post("/", {"csrf_token": hidden(form, "csrf_token"), "form_nonce": hidden(form, "form_nonce"),
                      "category": "food", "area": "north", "need": "Rice for a family of four", "contact": "",
                      "urgency": "this_week"})
    offer = public.get("/offer").body
    public.post("/offer", {"csrf_token": hidden(offer, "csrf_token"), "form_nonce": hidden(offer, "form_nonce"),
                           "kind": "goods", "category": "food", "area": "north", "what": "10 kg of rice",
                           "contact": ""})
    alice = Client(server.url)
    login = alice.get("/coordinator/login").body
    alice.post("/coordinator/login", {"csrf_token": hidden(login, "csrf_token"), "handle": "alice",
                                      "passphrase": PASSPHRASE})
    request_id = re.search(r"/coordinator/request/([0-9a-f]{32})", alice.get("/coordinator/").body).group(1)  # type: ignore[union-attr]
    page = alice.get(f"/coordinator/request/{request_id}").body
    assert alice.post(f"/coordinator/request/{request_id}/reply", reply_data(page, "Pick-up on Tuesday")).status == 303
    return ["/coordinator/", "/coordinator/?status=new&who=unassigned&waiting=1", f"/coordinator/request/{request_id}",
            "/coordinator/decisions/", "/coordinator/stock/", "/coordinator/intake", "/coordinator/two-step/",
            "/coordinator/passphrase/",
            f"/coordinator/keep/{request_id}"]


def _log_in(driver: WebDriver, base: str) -> None:
    driver.get(base + "/coordinator/login")
    driver.find_element(By.ID, "handle").send_keys("alice")
    driver.find_element(By.ID, "passphrase").send_keys(PASSPHRASE)
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "main button[type=submit]"))


def _speak(driver: WebDriver, base: str, language: str) -> None:
    """Choose the language with the page's own buttons (the current one is not a button)."""
    driver.get(base + "/coordinator/")
    buttons = driver.find_elements(By.CSS_SELECTOR, f"nav.langs button[value={language}]")
    if buttons:
        click_and_wait(driver, buttons[0])
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == language


@pytest.fixture(scope="module")
def driver(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    with browser(tmp_path_factory.mktemp("probe"), viewport=(WIDTH, 640)) as d:
        _log_in(d, server.url)
        yield d


@pytest.fixture(scope="module")
def axe_driver(server: LiveServer) -> Iterator[WebDriver]:
    assert AXE.is_file(), "axe-core missing: run sh ops/bootstrap.sh test"
    d = make_driver(javascript=True)
    d.set_script_timeout(60)
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                      {"width": WIDTH, "height": 640, "deviceScaleFactor": 1, "mobile": True})
    _log_in(d, server.url)
    yield d
    quit_driver(d)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_coordinator_page_at_320px_with_javascript_off(server: LiveServer, pages: list[str],
                                                             driver: WebDriver, language: str) -> None:
    _speak(driver, server.url, language)
    for path in pages:
        driver.get(server.url + path)
        html = driver.find_element(By.TAG_NAME, "html")
        assert (html.get_attribute("lang"), html.get_attribute("dir")) == (language, "rtl" if language == "ar" else "ltr")
        assert page_problems(driver.page_source) == [], path
        scroll = driver.execute_script("return document.documentElement.scrollWidth")
        assert scroll <= WIDTH, f"{language} {path}: {scroll}px wide at {WIDTH}px"
        assert "Not sealed to your key" not in driver.page_source  # the one coordinator reads everything
    # The inbox on a phone: each request a block, its status and erase day on screen, not off to the side.
    driver.get(server.url + "/coordinator/")
    for cell in driver.find_elements(By.CSS_SELECTOR, "table.inbox td"):
        rect = cell.rect
        assert rect["x"] >= 0 and rect["x"] + rect["width"] <= WIDTH + 1, cell.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_axe_finds_no_wcag22_violation_on_any_coordinator_page(server: LiveServer, pages: list[str],
                                                               axe_driver: WebDriver, language: str) -> None:
    _speak(axe_driver, server.url, language)
    problems: list[str] = []
    for path in pages:
        axe_driver.get(server.url + path)
        problems += [f"{language} {path}: {v}" for v in axe_violations(axe_driver)]
    assert problems == []


def test_the_login_page_in_each_language(server: LiveServer, tmp_path: Path) -> None:
    with browser(tmp_path, viewport=(WIDTH, 640)) as d:
        for language in LANGUAGES:
            d.get(server.url + "/coordinator/login" + ("" if language == "en" else f"?lang={language}"))
            assert d.find_element(By.TAG_NAME, "html").get_attribute("lang") == language
            assert d.execute_script("return document.documentElement.scrollWidth") <= WIDTH
