"""Two-step login for a coordinator: turn it on (no JavaScript), see recovery codes once, turn it off.

Setting up takes two pages. The first shows a new secret to type into an
authenticator app and carries it to the second, sealed to the coordinator's
own key (so the form cannot be made to plant someone else's secret). The
second keeps it only once a code from the app proves the app has it.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import Blueprint, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length

from ..records import totp
from .auth import login_required
from .connections import get_store, settings
from .forms import AidForm, EmptyForm

bp = Blueprint("twostep", __name__, url_prefix="/coordinator/two-step")


class ConfirmForm(AidForm):
    pending = HiddenField(validators=[DataRequired(), Length(max=1024)])
    code = StringField(_l("The 6-digit code your app shows now"),
                       validators=[DataRequired(_l("Type the code from your app.")), Length(max=16)])


class TurnOffForm(AidForm):
    code = StringField(_l("A code from your app, or a recovery code"),
                       validators=[DataRequired(_l("Type a code from your app or a recovery code.")), Length(max=64)])


def _render(mode: str, code: int = 200, **context: Any) -> tuple[str, int]:
    return render_template("coordinator/twostep.html", mode=mode, logout_form=EmptyForm(), **context), code


def _setup_page(enrolment: totp.Enrolment, form: ConfirmForm, code: int = 200) -> tuple[str, int]:
    form.pending.data = base64.urlsafe_b64encode(enrolment.sealed).decode("ascii")
    grouped = " ".join(enrolment.secret[i:i + 4] for i in range(0, len(enrolment.secret), 4))
    uri = enrolment.uri(g.session.coordinator.handle)
    return _render("setup", code, form=form, secret=grouped, uri=uri, qr=totp.qr_rows(uri))


@bp.get("/")
@login_required
def index() -> tuple[str, int]:
    me = g.session.coordinator.id
    if totp.is_on(get_store(), me):
        notice = _("Two-step login is on.") if request.args.get("saved") else None
        return _render("on", form=TurnOffForm(), left=totp.recovery_left(get_store(), me), notice=notice)
    notice = _("Two-step login is off.") if request.args.get("saved") else None
    return _render("off", start_form=EmptyForm(), notice=notice)


@bp.post("/start")
@login_required
def start() -> Any:
    # Replacing a second factor that is on needs a code: turn it off first (with one).
    if not EmptyForm().validate_on_submit() or totp.is_on(get_store(), g.session.coordinator.id):
        return redirect(url_for("twostep.index"), code=303)
    session = g.session
    return _setup_page(totp.begin(session.coordinator.id, session.keys.box_public), ConfirmForm(formdata=None))


@bp.post("/confirm")
@login_required
def confirm() -> Any:
    form = ConfirmForm()
    session = g.session
    if totp.is_on(get_store(), session.coordinator.id):
        return redirect(url_for("twostep.index"), code=303)
    try:
        sealed = base64.urlsafe_b64decode((form.pending.data or "").encode("ascii"))
        enrolment = totp.resume_enrolment(session.coordinator.id, session.keys, sealed)
    except (binascii.Error, ValueError, UnicodeEncodeError, totp.WrongCode):
        # A damaged or foreign secret: start again with a new one.
        return _setup_page(totp.begin(session.coordinator.id, session.keys.box_public), ConfirmForm(formdata=None), 400)
    if not form.validate_on_submit():
        return _setup_page(enrolment, form, 400)
    try:
        codes = totp.confirm(get_store(), settings(), session.coordinator.id, enrolment, form.code.data)
    except totp.WrongCode:
        form.code.errors = [_("That code does not match. Check the time on your phone, then type the newest code.")]
        return _setup_page(enrolment, form, 400)
    return _render("codes", codes=codes)


@bp.post("/off")
@login_required
def turn_off() -> Any:
    form = TurnOffForm()
    me = g.session.coordinator.id
    if not totp.is_on(get_store(), me):
        return redirect(url_for("twostep.index"), code=303)
    if not form.validate_on_submit():
        return _render("on", 400, form=form, left=totp.recovery_left(get_store(), me))
    try:
        totp.check(get_store(), me, g.session.keys, form.code.data)
    except totp.WrongCode:
        form.code.errors = [_("That code does not match, or it was used already. Type the newest code.")]
        return _render("on", 403, form=form, left=totp.recovery_left(get_store(), me))
    totp.turn_off(get_store(), me)
    return redirect(url_for("twostep.index", saved=1), code=303)
