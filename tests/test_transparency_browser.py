"""The transparency page in real headless Chromium with JavaScript off: the CSS bars really draw."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from helpers.axe import AXE, LANGUAGES, WIDTH, axe_violations
from helpers.browser import browser, make_driver, quit_driver
from helpers.exports import WEEK, plant, release, set_export
from helpers.instance import make_instance
from helpers.live import start_server
from helpers.pagecheck import page_problems
from helpers.record import MONTHS, build_year
from selenium.webdriver.common.by import By

pytestmark = [pytest.mark.browser, pytest.mark.server]


def test_bars_draw_with_javascript_off(tmp_path: Path) -> None:
    settings = set_export(make_instance(tmp_path / "instance"), noise="false")
    plant(settings, WEEK, {("food", "north", "received"): 40, ("rent", "north", "received"): 20})
    release(settings)
    server = start_server(settings.instance, tmp_path / "logs")
    try:
        with browser(tmp_path, width=400, height=900) as driver:  # a small phone
            driver.get(server.url + "/transparency/")
            assert page_problems(driver.page_source) == []
            section = driver.find_element(By.ID, "received")
            bars = {b.get_attribute("class"): b.size["width"] for b in section.find_elements(By.CSS_SELECTOR, ".bars b")}
            # food 40 is the full bar, rent 20 half of it, the rest no bar at all (not even an empty one).
            assert bars["w20"] > 100 and abs(bars["w10"] * 2 - bars["w20"]) <= 2 and "w0" not in bars
            links = [a.get_attribute("href")
                     for a in driver.find_elements(By.CSS_SELECTOR, "a[href*='/transparency/files/']")]
            assert len(links) == 4 and all(link.startswith(server.url) for link in links)
    finally:
        server.stop()


def test_a_year_of_releases_and_the_public_record_at_320px_in_every_language_is_axe_clean(tmp_path: Path) -> None:
    """Twelve monthly releases (noise on: totals with their margins) and a year of decisions with impact
    updates: no WCAG 2.2 AA violation at 320 px and no sideways scroll, on the page, an earlier release,
    the impact updates and the data dictionary, in every language."""
    group, settings = build_year(tmp_path)
    group.close()
    server = start_server(settings.instance, tmp_path / "logs")
    assert AXE.is_file()
    axe = make_driver(javascript=True)
    axe.set_script_timeout(60)
    axe.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                        {"width": WIDTH, "height": 640, "deviceScaleFactor": 1, "mobile": True})
    problems: list[str] = []
    try:
        with browser(tmp_path, viewport=(WIDTH, 640)) as driver:
            for language, prefix in LANGUAGES.items():
                for path in ("/transparency/", f"/transparency/?period={MONTHS[3]}", "/transparency/updates",
                             "/transparency/dictionary"):
                    driver.get(server.url + prefix + path)
                    assert page_problems(driver.page_source) == []
                    if path == "/transparency/":
                        assert "±" in driver.page_source and driver.find_elements(By.ID, "record")
                    scroll = driver.execute_script("return document.documentElement.scrollWidth")
                    assert scroll <= WIDTH, f"{language} {path}: {scroll}px wide"
                    axe.get(server.url + prefix + path)
                    assert axe.execute_script("return window.innerWidth") == WIDTH
                    problems += [f"{language} {path}: {v}" for v in axe_violations(axe)]
    finally:
        quit_driver(axe)
        server.stop()
    assert problems == []


def test_the_page_prints_without_navigation_or_link_noise(tmp_path: Path) -> None:
    """In print: no site or language navigation, no download links or list of releases, links in plain
    black, bars in ink, and no heading, bar or month left alone at the foot of a printed page."""
    group, settings = build_year(tmp_path)
    group.close()
    server = start_server(settings.instance, tmp_path / "logs")
    try:
        with browser(tmp_path) as driver:
            driver.get(server.url + "/transparency/")
            assert all(n.is_displayed() for n in driver.find_elements(By.TAG_NAME, "nav"))
            driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
            driver.get(server.url + "/transparency/")
            assert driver.find_elements(By.TAG_NAME, "nav") and not any(
                n.is_displayed() for n in driver.find_elements(By.TAG_NAME, "nav"))
            assert not any(n.is_displayed() for n in driver.find_elements(By.CSS_SELECTOR, ".noprint"))
            assert not any(a.is_displayed() for a in driver.find_elements(By.CSS_SELECTOR, "a[href*='/files/']"))
            link = driver.find_element(By.CSS_SELECTOR, "a[href$='/transparency/updates']")
            assert link.value_of_css_property("color") in ("rgba(0, 0, 0, 1)", "rgb(0, 0, 0)")
            assert "none" in link.value_of_css_property("text-decoration")
            bar = driver.find_element(By.CSS_SELECTOR, ".bars b")
            assert bar.value_of_css_property("background-color") in ("rgba(0, 0, 0, 1)", "rgb(0, 0, 0)")
            for selector, rule in (("h2", "break-after"), ("h3", "break-after"), (".bars li", "break-inside"),
                                   ("dl.months dd", "break-inside")):
                assert driver.find_element(By.CSS_SELECTOR, selector).value_of_css_property(rule) == "avoid", selector
            assert base64.b64decode(driver.print_page()).startswith(b"%PDF-")  # and it does print
    finally:
        server.stop()
