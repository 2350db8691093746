"""Every requester flow in real headless Chromium, in every shipped language, at 320 px wide.

One `aidnet serve` for the module. One Chromium with JavaScript off (as in Tor
Browser's Safest level) walks the whole flow (ask, receipt, status, read a
reply, answer, withdraw) in each language at a 320 px
viewport; a second Chromium, with JavaScript on only so the harness can
inject axe-core (the pages never carry it), walks the same flow and runs an
axe scan at WCAG 2.2 A/AA on every page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers.axe import AXE, LANGUAGES, WIDTH, axe_violations
from helpers.browser import browser, click_and_wait, make_driver, quit_driver
from helpers.live import Client, LiveServer, serve_new_instance
from helpers.pagecheck import page_problems
from helpers.pages import reply_data
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

pytestmark = [pytest.mark.browser, pytest.mark.server]



@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from serve_new_instance(tmp_path_factory.mktemp("requester-browser"))


@pytest.fixture(scope="module")
def coordinator(server: LiveServer) -> Client:
    c = Client(server.url)
    assert c.login().status == 303
    return c


def reply_to(coordinator: Client, need: str, text: str) -> None:
    inbox = coordinator.get("/coordinator/").body
    row = next(r for r in inbox.split("<tr>") if need in r)
    request_id = re.search(r"/coordinator/request/([0-9a-f]{32})", row).group(1)
    page = coordinator.get(f"/coordinator/request/{request_id}").body
    assert coordinator.post(f"/coordinator/request/{request_id}/reply", reply_data(page, text)).status == 303


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    # A 320 px wide phone screen (headless windows cannot be made that narrow, so emulate the viewport).
    with browser(tmp_path_factory.mktemp("probe"), viewport=(WIDTH, 640)) as driver:
        yield driver


@pytest.fixture(scope="module")
def axe_driver() -> Iterator[WebDriver]:
    """Chromium with JavaScript ON, for the axe harness only."""
    assert AXE.is_file(), "axe-core missing: run sh ops/bootstrap.sh test"
    driver = make_driver(javascript=True)
    driver.set_script_timeout(60)
    yield driver
    quit_driver(driver)


def walk_requester_flow(driver: WebDriver, base: str, prefix: str, coordinator: Client,
                        check: Callable[[str], None]) -> None:
    """Ask, see the receipt, check, read a reply, answer, withdraw; check(name) on every page."""
    marker = f"need-{prefix or 'en'}-{id(driver)}-{len(driver.window_handles)}"
    driver.get(f"{base}{prefix}/nowhere")
    check("not found")
    driver.get(f"{base}{prefix}/")
    check("ask")
    driver.find_element(By.ID, "need").send_keys(marker + " insulin")
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]"))
    check("ask with errors")
    assert driver.find_element(By.CSS_SELECTOR, "#errors a[href='#category']")
    assert driver.find_element(By.ID, "need").get_attribute("value") == marker + " insulin"
    Select(driver.find_element(By.ID, "category")).select_by_value("medicine")
    Select(driver.find_element(By.ID, "area")).select_by_value("east")
    driver.find_element(By.ID, "contact").send_keys("Signal @someone")
    driver.find_element(By.CSS_SELECTOR, "label[for=urgency-0]").click()
    driver.find_element(By.CSS_SELECTOR, "label[for=for_someone_else]").click()
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]"))
    codename = driver.find_element(By.ID, "codename").text
    assert len(codename.split()) == 7
    check("receipt")
    reply_to(coordinator, marker, "We can bring it on Friday")
    driver.get(f"{base}{prefix}/status")
    check("status form")
    driver.find_element(By.ID, "codename").send_keys("bako mize tula bako mize tula bako")
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]"))
    check("status not found")
    field = driver.find_element(By.ID, "codename")
    field.clear()
    field.send_keys(codename)
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]"))
    assert "We can bring it on Friday" in driver.find_element(By.TAG_NAME, "main").text
    check("status with a reply")
    driver.find_element(By.ID, "answer").send_keys("Friday is good, thank you")
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[action$='/status/answer'] button"))
    assert driver.find_element(By.CSS_SELECTOR, ".notice")
    assert "Friday is good, thank you" in driver.find_element(By.TAG_NAME, "main").text
    check("answer sent")
    # (Unticked, the browser itself refuses to send: the box is `required`; the server's own
    # message for that case is tested in test_conversation.py and test_text_browser.py.)
    driver.find_element(By.CSS_SELECTOR, "label[for=confirm]").click()
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[action$='/status/withdraw'] button"))
    check("erased")
    # The codename opens nothing any more.
    driver.get(f"{base}{prefix}/status")
    driver.find_element(By.ID, "codename").send_keys(codename)
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]"))
    assert driver.find_elements(By.ID, "errors")


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_requester_flow_js_off_at_320px(server: LiveServer, coordinator: Client, driver: WebDriver,
                                        language: str) -> None:
    rtl = language == "ar"
    seen = []

    def check(name: str) -> None:
        seen.append(name)
        html = driver.find_element(By.TAG_NAME, "html")
        assert html.get_attribute("lang") == language, name
        assert html.get_attribute("dir") == ("rtl" if rtl else "ltr"), name
        assert page_problems(driver.page_source) == [], name
        # Nothing wider than the 320 px screen: no sideways scrolling.
        scroll, client = driver.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert client == WIDTH and scroll <= WIDTH, f"{name}: {scroll}px wide at {WIDTH}px"
        # A visible language switcher on every page.
        assert len(driver.find_elements(By.CSS_SELECTOR, "nav.langs a[hreflang]")) == len(LANGUAGES) - 1, name
        if name == "receipt":
            # Printable: on paper the navigation goes, the codename stays.
            driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
            try:
                assert not driver.find_element(By.TAG_NAME, "header").is_displayed()
                assert driver.find_element(By.ID, "codename").is_displayed()
            finally:
                driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
        if rtl:
            # Right-to-left really lays out from the right: the first nav link sits at the right edge.
            link = driver.find_element(By.CSS_SELECTOR, "header nav a")
            assert link.rect["x"] + link.rect["width"] > WIDTH * 0.75, name

    walk_requester_flow(driver, server.url, LANGUAGES[language], coordinator, check)
    assert len(seen) == 9


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_axe_finds_no_wcag22_violation_on_any_requester_page(server: LiveServer, coordinator: Client,
                                                               axe_driver: WebDriver, language: str) -> None:
    problems: list[str] = []

    def check(name: str) -> None:
        problems.extend(f"{language} {name}: {v}" for v in axe_violations(axe_driver))

    walk_requester_flow(axe_driver, server.url, LANGUAGES[language], coordinator, check)
    assert problems == []


def test_the_axe_harness_can_fail(axe_driver: WebDriver, tmp_path: Path) -> None:
    """The scan is not vacuous: a page with an unlabelled field and no language is caught."""
    page = tmp_path / "bad.html"
    page.write_text("<!doctype html><html><head><title>x</title></head><body><input type=text></body></html>")
    axe_driver.get(page.as_uri())
    found = " ".join(axe_violations(axe_driver))
    assert "label" in found and "html-has-lang" in found


OTHER_PUBLIC_PAGES = ["/offer", "/offer/status", "/transparency/", "/paper", "/leave?to=/status"]


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_other_public_pages_in_every_language(server: LiveServer, driver: WebDriver, axe_driver: WebDriver,
                                              language: str) -> None:
    """The offer and transparency pages share the layout: same language, width and accessibility checks."""
    prefix, problems = LANGUAGES[language], []
    for path in OTHER_PUBLIC_PAGES:
        driver.get(server.url + prefix + path)
        html = driver.find_element(By.TAG_NAME, "html")
        assert (html.get_attribute("lang"), html.get_attribute("dir")) == (language, "rtl" if language == "ar" else "ltr")
        assert page_problems(driver.page_source) == [], path
        scroll = driver.execute_script("return document.documentElement.scrollWidth")
        assert scroll <= WIDTH, f"{path}: {scroll}px wide at {WIDTH}px"
        axe_driver.get(server.url + prefix + path)
        problems += [f"{language} {path}: {v}" for v in axe_violations(axe_driver)]
    assert problems == []
