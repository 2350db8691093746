"""A requester sees the decisions about their request and can dispute one, with their codename."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from ..decisions.disputes import decisions_for_codename, requester_dispute
from .connections import get_store, settings
from .forms import StatusForm, no_control_characters
from .pages import message
from .status import not_found

bp = Blueprint("disputes", __name__)


class RequesterDisputeForm(StatusForm):
    decision = HiddenField(validators=[DataRequired(), Length(max=64)])
    note = TextAreaField(_l("What is wrong? (only the keyholders can read this)"),
                         validators=[Optional(), Length(max=2000), no_control_characters])


@bp.post("/status/decisions")
def decisions() -> Any:
    form = StatusForm()
    if not form.validate():
        return not_found(form, 400)
    found = decisions_for_codename(get_store(), settings(), form.codename.data)
    if found is None:
        return not_found(form)
    return render_template("public/decisions.html", decisions=found, codename=form.codename.data,
                           dispute_form=RequesterDisputeForm(formdata=None))


@bp.post("/status/dispute")
def dispute() -> Any:
    form = RequesterDisputeForm()
    if not form.validate():
        found = decisions_for_codename(get_store(), settings(), form.codename.data or "")
        if found is None or form.codename.errors or form.decision.errors:
            return not_found(form, 400)
        # Only the note was wrong (too long, control characters): show it again with what was typed.
        return render_template("public/decisions.html", decisions=found, codename=form.codename.data,
                               dispute_form=form), 400
    if not requester_dispute(get_store(), settings(), form.codename.data, form.decision.data,
                                        form.note.data or ""):
        return not_found(form)
    return message(_("Your dispute was recorded"),
                   _("The keyholders must now look at it again and sign a resolution. "
                     "It stays open in the group's log until they do."))
