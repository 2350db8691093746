"""The public forms' gate: the group's own question, and the minute's budget for everyone together.

Both refuse the same way: the form again with what the person typed, a plain
message at the top, and nothing kept. A wrong answer is 400; a spent budget
is 503 with Retry-After (records.budget).
"""

from __future__ import annotations

from typing import Any

from flask import render_template
from flask_babel import gettext as _

from ..records.budget import Busy
from . import i18n
from .connections import settings
from .forms import AidForm


def ask_question(form: AidForm) -> AidForm:
    """Label the form's answer field with the group's question in this language (none: the field is not shown)."""
    form.answer.label.text = settings().intake.question_in(i18n.current_language()) or ""
    return form


def answered(form: AidForm) -> bool:
    """True when the group set no question, or the answer typed is one it accepts; else the field says so."""
    intake = settings().intake
    if not intake.question or intake.answer_ok(form.answer.data or ""):
        return True
    form.answer.errors = [*form.answer.errors, _(
        "That is not the answer we expected. Check the spelling, or ask someone from the group.")]
    return False


def busy(template: str, form: AidForm, exc: Busy) -> tuple[str, int, dict[str, Any]]:
    """The form again, with what was typed, under a note that the minute's budget is spent: 503, Retry-After."""
    form.form_errors = [*getattr(form, "form_errors", []), _(
        "We are receiving many requests right now, so nothing was kept. Please try again in a few minutes: "
        "what you wrote is still here, ready to send.")]
    return render_template(template, form=form, busy=True), 503, {"Retry-After": str(exc.retry_after)}
