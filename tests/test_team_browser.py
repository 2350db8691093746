"""Two coordinators and a requester, each in their own Chromium with JavaScript off, in Spanish and in Arabic.

A claims the request and replies; B sees the claim and the reply; B proposes the allocation from the offer
the form puts first (it fits); A signs it; B proposes the hand-over and A signs; the requester reads the
reply and sees the help handed over. Every page on the way is checked for scripts and handlers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.browser import browser, click_and_wait
from helpers.instance import PASSPHRASE, add_coordinator, make_instance
from helpers.live import Client, LiveServer, start_server
from helpers.pagecheck import page_problems
from helpers.pages import hidden
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from aidnet.web import i18n

pytestmark = [pytest.mark.browser, pytest.mark.server]
BOB = "bob's long passphrase"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    """Alice founded the group; Bob joined through the pages; the quorum is 2; an offer of rice is open."""
    settings = make_instance(tmp_path / "instance")
    add_coordinator(settings)
    add_coordinator(settings, "bob", BOB)
    live = start_server(settings.instance, tmp_path / "logs")
    try:
        alice = Client(live.url)
        login = alice.get("/coordinator/login").body
        alice.post("/coordinator/login", {"csrf_token": hidden(login, "csrf_token"), "handle": "alice",
                                          "passphrase": PASSPHRASE})
        token = hidden(alice.get("/coordinator/decisions/").body, "csrf_token")
        added = alice.post("/coordinator/decisions/member", {"csrf_token": token, "account": "2", "card": "", "until": ""})
        alice.get(added.headers["Location"].removeprefix(live.url))
        alice.post("/coordinator/decisions/quorum", {"csrf_token": token, "quorum": "2", "confirm": "y"})
        offer = alice.get("/offer").body
        for area, what in (("south", "OFFSOUTH blankets"), ("north", "OFFNORTH 10 kg of rice")):
            alice.post("/offer", {"csrf_token": hidden(offer, "csrf_token"), "form_nonce": hidden(offer, "form_nonce"),
                                  "kind": "goods", "category": "food", "area": area, "what": what, "contact": ""})
            offer = alice.get("/offer").body
        yield live
    finally:
        live.stop()


def _t(language: str, text: str) -> str:
    return str(i18n.compile_catalogue(i18n.catalogue_files()[language]).gettext(text))


def _clean(driver: WebDriver, language: str) -> None:
    assert page_problems(driver.page_source) == []
    html = driver.find_element(By.TAG_NAME, "html")
    assert (html.get_attribute("lang"), html.get_attribute("dir")) == (language, "rtl" if language == "ar" else "ltr")


def _submit(driver: WebDriver, css: str = "main form button[type=submit]") -> None:
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, css))


def _log_in(driver: WebDriver, base: str, handle: str, passphrase: str, language: str) -> None:
    driver.get(f"{base}/coordinator/login?lang={language}")
    driver.find_element(By.ID, "handle").send_keys(handle)
    driver.find_element(By.ID, "passphrase").send_keys(passphrase)
    _submit(driver)
    _clean(driver, language)


def _open_request(driver: WebDriver, base: str) -> None:
    driver.get(base + "/coordinator/")
    click_and_wait(driver, driver.find_element(By.PARTIAL_LINK_TEXT, "TEAMMARK"))


def _sign_all(driver: WebDriver, base: str, language: str) -> None:
    driver.get(base + "/coordinator/decisions/")
    _clean(driver, language)
    _submit(driver, "form[action$='/decisions/sign'] button")
    assert "TEAMMARK" not in driver.page_source  # nothing personal on the decisions page


@pytest.mark.parametrize("language", ["es", "ar"])
def test_two_coordinators_and_a_requester_with_javascript_off(server: LiveServer, tmp_path: Path,
                                                              language: str) -> None:
    base, prefix = server.url, f"/{language}"
    for name in "rab":
        (tmp_path / name).mkdir()
    with browser(tmp_path / "r") as requester, browser(tmp_path / "a") as a, browser(tmp_path / "b") as b:
        # The requester asks, in their language.
        requester.get(base + prefix + "/")
        Select(requester.find_element(By.ID, "category")).select_by_value("food")
        Select(requester.find_element(By.ID, "area")).select_by_value("north")
        requester.find_element(By.ID, "need").send_keys("TEAMMARK rice for four")
        requester.find_element(By.CSS_SELECTOR, "label[for=urgency-0]").click()
        _submit(requester, "form button[type=submit]")
        _clean(requester, language)
        codename = requester.find_element(By.ID, "codename").text

        # A claims it and replies.
        _log_in(a, base, "alice", PASSPHRASE, language)
        _open_request(a, base)
        _submit(a, "form[action$='/handler'] input[value='1'] ~ button")
        a.find_element(By.ID, "text").send_keys("REPLYMARK pick-up on Tuesday at the hall")
        _submit(a, "form[action$='/reply'] button")
        _clean(a, language)
        assert "REPLYMARK" in a.find_element(By.TAG_NAME, "main").text  # shown at once to its author

        # B sees who handles it and what was said, then allocates the offer the form puts first.
        _log_in(b, base, "bob", BOB, language)
        inbox = b.find_element(By.TAG_NAME, "main").text
        assert "alice" in inbox
        _open_request(b, base)
        main = b.find_element(By.TAG_NAME, "main").text
        assert "REPLYMARK pick-up on Tuesday" in main and "alice" in main
        source = Select(b.find_element(By.ID, "source"))
        fitting = [o for o in source.options if "OFFNORTH" in o.text]
        assert fitting and source.options.index(fitting[0]) == 2, [o.text for o in source.options]
        assert _t(language, "Fits this request: %(offer)s").split("%")[0].strip() in fitting[0].text
        source.select_by_index(2)
        _submit(b, "form[action$='/allocate'] button")
        _clean(b, language)

        # A signs; B proposes the hand-over; A signs that too.
        _sign_all(a, base, language)
        _open_request(b, base)
        _submit(b, "form[action$='/handover'] button")
        _sign_all(a, base, language)

        # The requester reads the reply and sees the help handed over.
        requester.get(base + prefix + "/status")
        requester.find_element(By.ID, "codename").send_keys(codename)
        _submit(requester)
        _clean(requester, language)
        page = requester.find_element(By.TAG_NAME, "main").text
        assert "REPLYMARK pick-up on Tuesday at the hall" in page
        assert _t(language, "Fulfilled") in page, page
        assert not re.search(r"\balice\b|\bbob\b", page)  # who answered stays among the coordinators
