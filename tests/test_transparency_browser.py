"""The transparency page in real headless Chromium with JavaScript off: the CSS bars really draw."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.axe import AXE, LANGUAGES, WIDTH, axe_violations
from helpers.browser import browser, make_driver, quit_driver
from helpers.exports import WEEK, plant, release, set_export
from helpers.instance import make_instance
from helpers.live import start_server
from helpers.pagecheck import page_problems
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


def test_a_noisy_release_at_320px_in_every_language_is_axe_clean(tmp_path: Path) -> None:
    """With a real release (noise on: totals with their margins), no WCAG 2.2 AA violation at 320 px, no scroll."""
    settings = make_instance(tmp_path / "instance")
    plant(settings, WEEK, {("food", "north", "received"): 40, ("rent", "south", "received"): 12})
    release(settings)
    server = start_server(settings.instance, tmp_path / "logs")
    assert AXE.is_file()
    axe = make_driver(javascript=True)
    axe.set_script_timeout(60)
    problems: list[str] = []
    try:
        with browser(tmp_path, viewport=(WIDTH, 640)) as driver:
            for language, prefix in LANGUAGES.items():
                driver.get(server.url + prefix + "/transparency/")
                assert "±" in driver.page_source and page_problems(driver.page_source) == []
                scroll = driver.execute_script("return document.documentElement.scrollWidth")
                assert scroll <= WIDTH, f"{language}: {scroll}px wide"
                axe.get(server.url + prefix + "/transparency/")
                problems += [f"{language}: {v}" for v in axe_violations(axe)]
    finally:
        quit_driver(axe)
        server.stop()
    assert problems == []
