"""The transparency page in real headless Chromium with JavaScript off: the CSS bars really draw."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.browser import browser
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
            bars = {b.get_attribute("class"): b.size["width"] for b in section.find_elements(By.CSS_SELECTOR, ".bar")}
            # food 40 is the full bar, rent 20 half of it, the rest no bar at all.
            assert bars["bar w20"] > 100 and abs(bars["bar w10"] * 2 - bars["bar w20"]) <= 2 and bars["bar w0"] <= 1
            links = [a.get_attribute("href")
                     for a in driver.find_elements(By.CSS_SELECTOR, "a[href*='/transparency/files/']")]
            assert len(links) == 3 and all(link.startswith(server.url) for link in links)
    finally:
        server.stop()
