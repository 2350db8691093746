"""A requester gives their verdict in Spanish in real headless Chromium with JavaScript off, at 320 px wide,
and the page with the verdict form (and its errors) passes axe at WCAG 2.2 AA in Spanish and Arabic."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from helpers.axe import AXE, LANGUAGES, WIDTH, axe_violations
from helpers.browser import browser, click_and_wait, make_driver, quit_driver
from helpers.live import Client, LiveServer, serve_new_instance
from helpers.pagecheck import page_problems
from helpers.pages import codename_from, hidden
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

pytestmark = [pytest.mark.browser, pytest.mark.server]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from serve_new_instance(tmp_path_factory.mktemp("verdict-browser"))


@pytest.fixture(scope="module")
def coordinator(server: LiveServer) -> Client:
    c = Client(server.url)
    assert c.login().status == 303
    return c


def handed_over_request(server: LiveServer, coordinator: Client, prefix: str, need: str) -> tuple[str, str]:
    """A request asked in this language, given stock and handed over by alice (quorum 1): (codename, request id)."""
    asker = Client(server.url)
    page = asker.get(f"{prefix}/").body
    receipt = asker.post(f"{prefix}/", {"csrf_token": hidden(page, "csrf_token"), "form_nonce": hidden(page, "form_nonce"),
                                        "category": "food", "area": "north", "need": need, "contact": "",
                                        "urgency": "this_week"})
    assert receipt.status == 201
    inbox = coordinator.get("/coordinator/").body
    row = next(r for r in inbox.split("<tr") if need in r)
    request_id = re.search(r"/coordinator/request/([0-9a-f]{32})", row).group(1)
    page = coordinator.get(f"/coordinator/request/{request_id}").body
    assert coordinator.post(f"/coordinator/decisions/request/{request_id}/allocate",
                            {"csrf_token": hidden(page, "csrf_token"), "source": "stock", "amount": "",
                             "note": ""}).status == 303
    page = coordinator.get(f"/coordinator/request/{request_id}").body
    allocation = re.search(r'name="proposal" value="([0-9a-f]{32})"', page).group(1)
    assert coordinator.post(f"/coordinator/decisions/request/{request_id}/handover",
                            {"csrf_token": hidden(page, "csrf_token"), "proposal": allocation}).status == 303
    return codename_from(receipt.body), request_id


def open_status(driver: WebDriver, base: str, prefix: str, codename: str) -> None:
    driver.get(f"{base}{prefix}/status")
    driver.find_element(By.ID, "codename").send_keys(codename)
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]"))


def test_a_requester_gives_their_verdict_in_spanish_with_javascript_off(server: LiveServer, coordinator: Client,
                                                                        tmp_path_factory: pytest.TempPathFactory) -> None:
    codename, request_id = handed_over_request(server, coordinator, "/es", "pañales talla 3")
    with browser(tmp_path_factory.mktemp("probe"), viewport=(WIDTH, 640)) as driver:
        open_status(driver, server.url, "/es", codename)
        main = driver.find_element(By.TAG_NAME, "main")
        assert "¿Cómo fue?" in main.text
        legends = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "form[action$='/status/verdict'] legend")]
        assert [legend.split(" (")[0] for legend in legends] == ["¿Recibiste la ayuda?", "¿Era lo que necesitabas?"]
        # Sent with no answer chosen: the errors, in Spanish, each tied to its question; the comment stays.
        driver.find_element(By.ID, "comment").send_keys("Llegaron la mitad")
        click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[action$='/status/verdict'] button"))
        summary = driver.find_element(By.ID, "errors")
        assert summary.find_element(By.CSS_SELECTOR, "a[href='#received']").text == "Di si recibiste la ayuda."
        assert driver.find_element(By.ID, "needed-error").text == "Di si era lo que necesitabas."
        assert driver.find_element(By.ID, "comment").get_attribute("value") == "Llegaron la mitad"
        assert page_problems(driver.page_source) == []
        # Answered: labels are clicked as a person would (the radios are real, no script).
        driver.find_element(By.CSS_SELECTOR, "label[for=received-1]").click()
        driver.find_element(By.CSS_SELECTOR, "label[for=needed-0]").click()
        click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[action$='/status/verdict'] button"))
        notice = driver.find_element(By.CSS_SELECTOR, ".notice").text
        assert notice.startswith("Gracias por contarnos cómo fue.")
        assert not driver.find_elements(By.CSS_SELECTOR, "form[action$='/status/verdict']")
        html = driver.find_element(By.TAG_NAME, "html")
        assert (html.get_attribute("lang"), html.get_attribute("dir")) == ("es", "ltr")
        assert driver.execute_script("return document.documentElement.scrollWidth") <= WIDTH
        assert page_problems(driver.page_source) == []
    shown = coordinator.get(f"/coordinator/request/{request_id}").body
    assert "Llegaron la mitad" in shown and "Partly" in shown
    assert "0% (0 of 1)" in coordinator.get("/coordinator/verdicts").body  # one answer, and not a "no"


@pytest.mark.parametrize("language", ["es", "ar"])
def test_axe_finds_no_wcag22_violation_on_the_verdict_form(server: LiveServer, coordinator: Client,
                                                            language: str) -> None:
    assert AXE.is_file(), "axe-core missing: run sh ops/bootstrap.sh test"
    prefix = LANGUAGES[language]
    codename, _request_id = handed_over_request(server, coordinator, prefix, f"axe check {language}")
    driver = make_driver(javascript=True)  # on only so the harness can inject axe-core; the page carries none
    driver.set_script_timeout(60)
    try:
        open_status(driver, server.url, prefix, codename)
        problems = [f"form: {v}" for v in axe_violations(driver)]
        click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[action$='/status/verdict'] button"))
        assert driver.find_element(By.ID, "errors")
        problems += [f"errors: {v}" for v in axe_violations(driver)]
    finally:
        quit_driver(driver)
    assert problems == []
