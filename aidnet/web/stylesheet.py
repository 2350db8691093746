"""The stylesheet travels inside each page, allowed by its hash in the CSP.

Each kind of page carries the files it uses (BUNDLES): style.css everywhere, forms.css where there are
forms, figures.css on the transparency pages, coordinator.css on the coordinators' pages.

A requester on a slow or watched link gets a whole page in one request (plus
a 70-byte icon the browser asks for anyway), never a second round trip for CSS.
The hash pins the exact bytes: any other inline style is still refused.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from flask import Flask
from markupsafe import Markup

CONFIG_KEY = "AIDNET_STYLE_HASH"


def style_hash(css: str) -> str:
    """The CSP source expression that allows exactly this <style> content."""
    digest = hashlib.sha256(css.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def inline_css(source: str) -> str:
    """The stylesheet as it travels in each page: its comments (for whoever edits the file) and line breaks
    left out (a rule never needs one)."""
    return re.sub(r"/\*.*?\*/", "", source, flags=re.S).replace("\n", "")


# Which files each kind of page carries, in order: a page carries only the rules it can use, and the CSP
# allows exactly these contents (one hash each). A requester's form never carries the transparency
# figures or the coordinators' tools; the transparency page, which has no form, carries no form rules.
BUNDLES = {
    "public": ("style.css", "forms.css"),
    "figures": ("style.css", "figures.css"),
    "coordinator": ("style.css", "forms.css", "coordinator.css"),
}


def install(app: Flask, folder: Path) -> None:
    """`styles.public` (every public page), `styles.figures` (transparency) and `styles.coordinator`, for templates."""
    styles = {name: inline_css("".join((folder / f).read_text(encoding="utf-8") for f in files))
              for name, files in BUNDLES.items()}
    if any("</" in css for css in styles.values()):
        raise ValueError("the stylesheet must not contain '</' (it is placed inside <style>)")
    # Our own files, read once at start: never user input, so they are not escaped.
    app.jinja_env.globals["styles"] = {name: Markup(css) for name, css in styles.items()}  # noqa: S704
    app.config[CONFIG_KEY] = " ".join(style_hash(css) for css in styles.values())
