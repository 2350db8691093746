"""The stylesheet travels inside each page, allowed by its hash in the CSP.

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
    """The stylesheet as it travels in each page: its comments (for whoever edits the file) left out."""
    return re.sub(r"/\*.*?\*/\n?", "", source, flags=re.S)


def install(app: Flask, stylesheet: Path) -> None:
    css = inline_css(stylesheet.read_text(encoding="utf-8"))
    if "</" in css:
        raise ValueError("the stylesheet must not contain '</' (it is placed inside <style>)")
    # Our own file, read once at start: never user input, so it is not escaped.
    app.jinja_env.globals["inline_style"] = Markup(css)  # noqa: S704
    app.config[CONFIG_KEY] = style_hash(css)
