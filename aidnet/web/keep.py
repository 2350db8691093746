"""Coordinators keep a request past its erase day, with a reason sealed to the coordinators.

An extension is a coordinator's own act, recorded with a sealed reason; the
reason is never stored in clear.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import SelectField, TextAreaField
from wtforms.validators import DataRequired, Length

from ..records import retention
from ..records.requests import open_request
from .auth import login_required
from .connections import get_store, settings
from .forms import AidForm, EmptyForm, choice_required, no_control_characters

bp = Blueprint("keep", __name__, url_prefix="/coordinator/keep")
DAY_CHOICES = (30, 60, 90, 180, 365)


class ExtendForm(AidForm):
    days = SelectField(_l("Keep it until"), validate_choice=False,
                       validators=[choice_required(_l("Choose how long to keep it from the list."))])
    reason = TextAreaField(
        _l("Why it must be kept longer"),
        validators=[DataRequired(_l("Say why it must be kept longer.")),
                    Length(max=retention.REASON_MAX,
                           message=_l("Please keep this under %(max)d characters.", max=retention.REASON_MAX)),
                    no_control_characters],
    )


def _form(form: ExtendForm | None = None) -> ExtendForm:
    form = form or ExtendForm()
    limit = settings().policy.max_extension_days
    form.days.choices = [(str(d), _("%(days)d days from today", days=d)) for d in DAY_CHOICES if d <= limit]
    return form


def _render(request_id: str, form: ExtendForm, notice: str | None = None, code: int = 200) -> Any:
    opened = open_request(get_store(), g.session.keys, request_id)
    if opened is None or opened.details is None:
        abort(404)
    kept = retention.extensions(get_store(), g.session.keys, request_id)
    return render_template("coordinator/keep.html", r=opened, form=form, kept=kept, notice=notice,
                           logout_form=EmptyForm()), code


@bp.get("/<request_id>")
@login_required
def show(request_id: str) -> Any:
    notice = _("Kept longer. The reason is sealed to the coordinators.") if request.args.get("saved") else None
    return _render(request_id, _form(), notice)


@bp.post("/<request_id>")
@login_required
def extend(request_id: str) -> Any:
    form = _form(ExtendForm())
    if not form.validate_on_submit():
        return _render(request_id, form, code=400)
    opened = open_request(get_store(), g.session.keys, request_id)
    if opened is None or opened.details is None:
        abort(404)
    if not retention.extend(get_store(), settings(), request_id, int(form.days.data), form.reason.data):
        form.form_errors.append(_("It is already kept at least that long. Choose a longer time."))
        return _render(request_id, form, code=409)
    return redirect(url_for("keep.show", request_id=request_id, saved=1), code=303)
