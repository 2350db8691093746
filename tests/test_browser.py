"""The three day-one flows in real headless Chromium, JavaScript disabled, against `aidnet serve`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.browser import browser, click_and_wait
from helpers.instance import PASSPHRASE
from helpers.live import LiveServer, serve_new_instance
from helpers.pagecheck import page_problems
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

pytestmark = [pytest.mark.browser, pytest.mark.server]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from serve_new_instance(tmp_path_factory.mktemp("browser"))


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[WebDriver]:
    with browser(tmp_path) as driver:
        yield driver


def clean(driver: WebDriver) -> None:
    assert page_problems(driver.page_source) == []


def ask_for_help(driver: WebDriver, base: str, need: str) -> str:
    driver.get(base + "/")
    clean(driver)
    Select(driver.find_element(By.ID, "category")).select_by_visible_text("Medicine")
    Select(driver.find_element(By.ID, "area")).select_by_visible_text("East")
    driver.find_element(By.ID, "need").send_keys(need)
    driver.find_element(By.ID, "contact").send_keys("at the market on Sundays")
    driver.find_element(By.CSS_SELECTOR, "label[for=urgency-0]").click()
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form button[type=submit]"))
    assert "Your request was received" in driver.find_element(By.TAG_NAME, "h1").text
    clean(driver)
    return driver.find_element(By.ID, "codename").text


def check_status(driver: WebDriver, base: str, codename: str) -> str:
    driver.get(base + "/status")
    driver.find_element(By.ID, "codename").send_keys(codename)
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]"))
    clean(driver)
    return driver.find_element(By.TAG_NAME, "main").text


def test_requester_asks_and_checks(server: LiveServer, driver: WebDriver, tmp_path: Path) -> None:
    codename = ask_for_help(driver, server.url, "Inhaler refill, salbutamol")
    assert len(codename.split()) == 7
    driver.save_screenshot(str(tmp_path / "receipt.png"))
    text = check_status(driver, server.url, codename)
    assert "Received, not yet read" in text and "No replies yet." in text


def test_wrong_codename_is_neutral_and_keeps_typing(server: LiveServer, driver: WebDriver) -> None:
    text = check_status(driver, server.url, "bako mize tula bako mize tula bako")
    assert "We could not find a request with that codename" in text
    assert driver.find_element(By.ID, "codename").get_attribute("value") == "bako mize tula bako mize tula bako"


def test_bad_input_keeps_what_was_typed(server: LiveServer, driver: WebDriver) -> None:
    driver.get(server.url + "/")
    driver.find_element(By.ID, "need").send_keys("Formula milk, two tins")
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form button[type=submit]"))
    assert "There is a problem" in driver.find_element(By.ID, "errors").text
    assert driver.find_element(By.ID, "need").get_attribute("value") == "Formula milk, two tins"
    # The error summary links to the field it is about.
    assert driver.find_element(By.CSS_SELECTOR, "#errors a[href='#category']").is_displayed()


def test_coordinator_reads_changes_replies_and_logs_out(server: LiveServer, driver: WebDriver) -> None:
    codename = ask_for_help(driver, server.url, "Ride to the clinic on Tuesday")
    driver.get(server.url + "/coordinator/login")
    clean(driver)
    driver.find_element(By.ID, "handle").send_keys("alice")
    driver.find_element(By.ID, "passphrase").send_keys(PASSPHRASE)
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]"))
    assert driver.find_element(By.TAG_NAME, "h1").text == "Inbox"
    clean(driver)
    click_and_wait(driver, driver.find_element(By.PARTIAL_LINK_TEXT, "Ride to the clinic"))
    clean(driver)
    assert "at the market on Sundays" in driver.find_element(By.TAG_NAME, "main").text
    Select(driver.find_element(By.ID, "status")).select_by_visible_text("In progress")
    click_and_wait(driver, driver.find_element(By.XPATH, "//button[text()='Save status']"))
    assert "Status saved." in driver.find_element(By.CSS_SELECTOR, ".notice").text
    driver.find_element(By.ID, "text").send_keys("A driver can take you at 10:00. Reply here if not.")
    click_and_wait(driver, driver.find_element(By.XPATH, "//button[text()='Send reply']"))
    assert "Reply sent" in driver.find_element(By.CSS_SELECTOR, ".notice").text
    click_and_wait(driver, driver.find_element(By.XPATH, "//button[text()='Log out']"))
    assert driver.find_element(By.TAG_NAME, "h1").text == "Coordinator log in"
    driver.get(server.url + "/coordinator/")
    assert driver.find_element(By.TAG_NAME, "h1").text == "Coordinator log in"
    text = check_status(driver, server.url, codename)
    assert "A coordinator is working on it" in text and "A driver can take you at 10:00" in text


def test_wrong_passphrase_in_browser(server: LiveServer, driver: WebDriver) -> None:
    driver.get(server.url + "/coordinator/login")
    driver.find_element(By.ID, "handle").send_keys("bob")
    driver.find_element(By.ID, "passphrase").send_keys("no such passphrase")
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]"))
    assert "That handle and passphrase do not match" in driver.find_element(By.ID, "errors").text
    assert driver.find_element(By.ID, "handle").get_attribute("value") == "bob"
    assert driver.find_element(By.ID, "passphrase").get_attribute("value") == ""


def test_keyholder_allocates_and_offers_in_browser(server: LiveServer, driver: WebDriver) -> None:
    """Offer, allocate it to a request, see it final in the log, all with JavaScript off."""
    driver.get(server.url + "/offer")
    clean(driver)
    driver.find_element(By.CSS_SELECTOR, "label[for=kind-2]").click()
    Select(driver.find_element(By.ID, "category")).select_by_visible_text("A ride")
    Select(driver.find_element(By.ID, "area")).select_by_visible_text("South")
    driver.find_element(By.ID, "what").send_keys("Blue van, Saturdays")
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]"))
    assert len(driver.find_element(By.ID, "codename").text.split()) == 7
    ask_for_help(driver, server.url, "Moving boxes to my new flat")
    driver.get(server.url + "/coordinator/login")
    driver.find_element(By.ID, "handle").send_keys("alice")
    driver.find_element(By.ID, "passphrase").send_keys(PASSPHRASE)
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]"))
    click_and_wait(driver, driver.find_element(By.PARTIAL_LINK_TEXT, "Moving boxes"))
    Select(driver.find_element(By.ID, "source")).select_by_index(2)  # the offer
    driver.find_element(By.ID, "note").send_keys("Olu drives on Saturday")
    click_and_wait(driver, driver.find_element(By.XPATH, "//button[text()='Propose this allocation']"))
    clean(driver)
    assert "the decision is final" in driver.find_element(By.CSS_SELECTOR, ".notice").text
    assert "Offers and stock" in driver.find_element(By.TAG_NAME, "header").text
