"""Pages that are the same for everyone but one or two values: rendered once, then filled in.

The request form is the page most people see, and rendering it through Jinja
and WTForms took ~2 ms of CPU, most of a whole submission (bench/). Its HTML
depends only on the language and the instance config, which are fixed while
the server runs, and on per-visit values (the CSRF token, the form nonce, a
codename on a receipt). So each such page is rendered once per address with
a random placeholder where each per-visit value goes, cut there, and every
visit joins the pieces around its own values, escaped as Jinja would.

Only pages with no typed input and no errors use this: a form shown again
with what someone typed is always rendered in full. Before a page is kept it
is checked: every placeholder must come through rendering unchanged, and the
kept page filled with awkward sample values (spaces, quotes, &, <) must equal
a full render with them, so a template that filters a value (urlencode,
replace) is never kept. A page that fails is rendered in full every time: a
template change can make it slower, not wrong.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from flask import current_app, request
from markupsafe import escape

from . import i18n

EXTENSION = "aidnet.prerendered"
# Keys are (page, language, script root, path) of routed pages: a handful per language.
# The bound only guards against a deployment whose script root varies.
MAX_SHELLS = 256

Render = Callable[[Mapping[str, str]], str]


@dataclass(frozen=True)
class Shell:
    pieces: tuple[str, ...]  # literal HTML; one more piece than slots
    slots: tuple[str, ...]  # which value goes between pieces[i] and pieces[i + 1]

    def fill(self, values: Mapping[str, str]) -> str:
        out = [self.pieces[0]]
        for slot, piece in zip(self.slots, self.pieces[1:], strict=True):
            out.append(str(escape(values[slot])))
            out.append(piece)
        return "".join(out)


def cut(html: str, marks: Mapping[str, str]) -> Shell | None:
    """Split html at each placeholder; None unless every placeholder is there."""
    by_mark = {mark: slot for slot, mark in marks.items()}
    parts = re.split("(" + "|".join(map(re.escape, by_mark)) + ")", html)
    pieces, slots = tuple(parts[0::2]), tuple(by_mark[m] for m in parts[1::2])
    if set(slots) != set(marks):
        return None
    return Shell(pieces, slots)


def page(name: str, render: Render, values: Mapping[str, str]) -> str:
    """The page `name` at this address with values filled in; render(values) draws it in full."""
    shells: dict[tuple[str, str, str, str], Shell | None] = current_app.extensions.setdefault(EXTENSION, {})
    key = (name, i18n.current_language(), request.script_root, request.path)
    if key in shells:
        shell = shells[key]
    else:
        shell = _draw(render, list(values))
        if len(shells) < MAX_SHELLS:
            shells[key] = shell  # a race only renders the same page twice
    return shell.fill(values) if shell is not None else render(values)


def _draw(render: Render, slots: list[str]) -> Shell | None:
    marks = {slot: "aidnetslot" + secrets.token_hex(16) for slot in slots}
    shell = cut(render(marks), marks)
    sample = {slot: f'{slot} Ab-_.9 &"<' for slot in slots}
    if shell is None or shell.fill(sample) != render(sample):
        return None
    return shell
