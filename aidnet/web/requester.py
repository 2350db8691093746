"""The requester's conversation and erasure, reached from the status page.

The codename travels only in POST bodies (a hidden field in these forms),
never in a URL, a cookie or a redirect: every answer is a page rendered in
reply to the POST, and every page here is no-store.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length

from .. import conversation, intake
from ..db import get_store, settings
from .forms import CODENAME_MAX, AidForm, StatusForm, no_control_characters

bp = Blueprint("requester", __name__)
ANSWER_MAX = 4000


class AnswerForm(AidForm):
    codename = HiddenField(validators=[InputRequired(), Length(max=CODENAME_MAX), no_control_characters])
    answer = TextAreaField(
        _l("Your answer"),
        validators=[DataRequired(_l("Write your answer first.")),
                    Length(max=ANSWER_MAX, message=_l("Please keep this under %(max)d characters.", max=ANSWER_MAX)),
                    no_control_characters],
    )
    form_nonce = HiddenField(default=lambda: secrets.token_urlsafe(16),
                             validators=[InputRequired(), Length(min=16, max=64)])


class WithdrawForm(AidForm):
    codename = HiddenField(validators=[InputRequired(), Length(max=CODENAME_MAX), no_control_characters])
    confirm = BooleanField(
        _l("Yes, erase my request and every message about it. This cannot be undone."),
        validators=[DataRequired(_l("Tick the box to confirm that you want to erase your request."))],
    )


def _not_found(code: int = 404, form_errors: list[Any] | None = None) -> tuple[str, int]:
    # Wrong and unknown codenames get the same answer: nothing tells them apart.
    form = StatusForm(formdata=None)
    form.form_errors = list(form_errors or [])
    form.codename.errors = [_("We could not find a request with that codename. Check the words and try again.")]
    return render_template("public/status.html", form=form, view=None), code


def status_page(codename: str, *, answer_form: AnswerForm | None = None, withdraw_form: WithdrawForm | None = None,
                notice: str | None = None, code: int = 200, status_form: StatusForm | None = None) -> tuple[str, int]:
    """The status page for a codename: status, conversation, answer and withdraw forms."""
    view = conversation.for_requester(get_store(), settings(), codename)
    if view is None:
        if status_form is not None:
            status_form.codename.errors = [
                _("We could not find a request with that codename. Check the words and try again.")]
            return render_template("public/status.html", form=status_form, view=None), 404
        return _not_found()
    answer_form = answer_form or AnswerForm(formdata=None, codename=codename)
    withdraw_form = withdraw_form or WithdrawForm(formdata=None, codename=codename)
    return render_template("public/status.html", form=status_form or StatusForm(formdata=None), view=view,
                           answer_form=answer_form, withdraw_form=withdraw_form, notice=notice), code


def _message(title: str, message: str, code: int) -> tuple[str, int]:
    return render_template("public/message.html", title=title, message=message), code


@bp.get("/favicon.ico")
def favicon() -> Response:
    """The 70-byte icon, for browsers that ask at the root whatever the page says."""
    icon = Path(current_app.static_folder or "", "favicon.ico").read_bytes()  # 70 bytes: no file handle kept
    return Response(icon, mimetype="image/x-icon")


@bp.post("/status/answer")
def answer() -> Any:
    form = AnswerForm()
    if not form.validate_on_submit():
        if form.codename.errors or conversation.for_requester(get_store(), settings(), form.codename.data) is None:
            return _not_found(400, form.form_errors)
        return status_page(form.codename.data, answer_form=form, code=400)
    try:
        sent = conversation.answer(get_store(), settings(), form.codename.data, form.answer.data, form.form_nonce.data)
    except intake.ReplayedForm:
        return _message(_("Already received"),
                        _("This answer was already sent, and we have it. Check your request again with your "
                          "codename to see it."), 409)
    except intake.NotReady:
        return _message(_("Not ready yet"),
                        _("This service cannot take messages right now. Nothing was kept. Please try again later."), 503)
    if not sent:
        return _not_found()
    return status_page(form.codename.data, notice=_("Your answer was sent. Only you and the coordinators can read it."))


@bp.post("/status/withdraw")
def withdraw() -> Any:
    form = WithdrawForm()
    if not form.validate_on_submit():
        if form.codename.errors or conversation.for_requester(get_store(), settings(), form.codename.data) is None:
            return _not_found(400, form.form_errors)
        return status_page(form.codename.data, withdraw_form=form, code=400)
    if not conversation.withdraw(get_store(), settings(), form.codename.data):
        return _not_found()
    return _message(_("Your request was erased"),
                    _("Your request, the replies and your answers are gone for good. The codename no longer opens "
                      "anything. If you still need help, you can ask again at any time."), 200)
