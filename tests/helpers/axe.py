"""axe-core run in a JavaScript-on Chromium: the WCAG 2.2 AA violations of the loaded page."""

from __future__ import annotations

import json
from pathlib import Path

from selenium.webdriver.remote.webdriver import WebDriver

AXE = Path(__file__).resolve().parents[2] / ".venv-test" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
LANGUAGES = {"en": "", "es": "/es", "fr": "/fr", "ar": "/ar"}
WIDTH = 320


def axe_violations(driver: WebDriver) -> list[str]:
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations']})"
        ".then(r => done(JSON.stringify(r.violations))).catch(e => done(JSON.stringify([{id: 'axe-error', "
        "help: String(e), nodes: []}])));",
        WCAG_TAGS,
    )
    return [f"{v['id']}: {v['help']} ({[n.get('target') for n in v['nodes']][:3]})" for v in json.loads(result)]
