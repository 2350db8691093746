"""A requester sees the decisions about their request and can dispute one, with their codename."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from .. import offline
from ..db import get_store, settings
from .forms import StatusForm, no_control_characters

bp = Blueprint("disputes", __name__)


class RequesterDisputeForm(StatusForm):
    decision = HiddenField(validators=[DataRequired(), Length(max=64)])
    note = TextAreaField(_l("What is wrong? (only the keyholders can read this)"),
                         validators=[Optional(), Length(max=2000), no_control_characters])


def _not_found(form: StatusForm, code: int = 404) -> tuple[str, int]:
    form.codename.errors = [_("We could not find a request with that codename. Check the words and try again.")]
    return render_template("public/status.html", form=form, view=None), code


@bp.post("/status/decisions")
def decisions() -> Any:
    form = StatusForm()
    if not form.validate():
        return _not_found(form, 400)
    found = offline.decisions_for_codename(get_store(), settings(), form.codename.data)
    if found is None:
        return _not_found(form)
    return render_template("public/decisions.html", decisions=found, codename=form.codename.data,
                           dispute_form=RequesterDisputeForm(formdata=None))


@bp.post("/status/dispute")
def dispute() -> Any:
    form = RequesterDisputeForm()
    if not form.validate():
        found = offline.decisions_for_codename(get_store(), settings(), form.codename.data or "")
        if found is None or form.codename.errors or form.decision.errors:
            return _not_found(form, 400)
        # Only the note was wrong (too long, control characters): show it again with what was typed.
        return render_template("public/decisions.html", decisions=found, codename=form.codename.data,
                               dispute_form=form), 400
    if not offline.requester_dispute(get_store(), settings(), form.codename.data, form.decision.data,
                                        form.note.data or ""):
        return _not_found(form)
    return render_template("public/message.html", title=_("Your dispute was recorded"),
                           message=_("The keyholders must now look at it again and sign a resolution. "
                                     "It stays open in the group's log until they do.")), 200
