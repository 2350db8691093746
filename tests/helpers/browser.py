"""Debian's headless Chromium, driven by Debian's chromedriver, with JavaScript turned off."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def make_driver(width: int = 1024, height: int = 900, javascript: bool = False) -> webdriver.Chrome:
    """Debian's headless Chromium; JavaScript off (Tor Browser's Safest) unless asked for (the axe harness only)."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(path):
            raise RuntimeError(f"{path} missing: apt-get install chromium chromium-driver (tests/run.sh does)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="aidnet-chromium-")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    if not javascript:  # JavaScript off, as in Tor Browser's Safest level.
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    driver._aidnet_profile = profile  # type: ignore[attr-defined]
    return driver


def quit_driver(driver: webdriver.Chrome) -> None:
    profile = getattr(driver, "_aidnet_profile", None)
    driver.quit()
    if profile:
        shutil.rmtree(profile, ignore_errors=True)


def js_is_off(driver: webdriver.Chrome, scratch: Path) -> bool:
    """Load a local page whose script would change its title; it must not run."""
    page = scratch / "js-probe.html"
    page.write_text("<title>before</title><script>document.title='after'</script>")
    driver.get(page.as_uri())
    return driver.title == "before"


def click_and_wait(driver: webdriver.Chrome, element: WebElement) -> None:
    """Click something that loads a new page, and wait until the old page is gone."""
    old = driver.find_element(By.TAG_NAME, "html")
    try:
        element.click()
    except WebDriverException as exc:  # chromedriver's race: the page was gone before the click returned
        if "does not belong to the document" not in str(exc):
            raise

    def gone(_driver: webdriver.Chrome) -> bool:
        # Under load chromedriver may report a node of the old page as "not in the document"
        # instead of stale: both mean the new page is there.
        try:
            old.is_enabled()
        except WebDriverException:
            return True
        return False

    WebDriverWait(driver, 30).until(gone)


@contextmanager
def browser(probe_dir: Path, width: int = 1024, height: int = 900,
            viewport: tuple[int, int] | None = None) -> Iterator[webdriver.Chrome]:
    """A JavaScript-off Chromium for one test or module, quit afterwards.

    viewport emulates a screen narrower than a headless window can be made (a 320 px phone).
    """
    driver = make_driver(width, height)
    try:
        assert js_is_off(driver, probe_dir), "JavaScript must be disabled in the test browser"
        if viewport is not None:
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                   {"width": viewport[0], "height": viewport[1], "deviceScaleFactor": 1, "mobile": True})
        yield driver
    finally:
        quit_driver(driver)
