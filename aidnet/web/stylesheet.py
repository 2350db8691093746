"""The stylesheet travels inside each page, allowed by its hash in the CSP.

Two of them: style.css on every page, and coordinator.css added on the coordinators' pages only.

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


def install(app: Flask, stylesheet: Path, coordinator: Path) -> None:
    """Public pages carry `stylesheet`; the coordinators' pages carry it with `coordinator` after it.

    The CSP allows exactly these two <style> contents (one hash each), nothing else.
    """
    css = inline_css(stylesheet.read_text(encoding="utf-8"))
    both = css + inline_css(coordinator.read_text(encoding="utf-8"))
    if "</" in both:
        raise ValueError("the stylesheet must not contain '</' (it is placed inside <style>)")
    # Our own files, read once at start: never user input, so they are not escaped.
    app.jinja_env.globals["inline_style"] = Markup(css)  # noqa: S704
    app.jinja_env.globals["inline_style_coordinator"] = Markup(both)  # noqa: S704
    app.config[CONFIG_KEY] = f"{style_hash(css)} {style_hash(both)}"
