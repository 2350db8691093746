"""After the receipt: the status page a codename opens, its conversation, and erasure.

The status page also asks a fulfilled request's requester for their verdict
(records.verdicts) and lets a requester decline help agreed but not yet handed
over (decisions.declines).

The codename travels only in POST bodies (typed into the status form, then a
hidden field in these forms), never in a URL, a cookie or a redirect: every
answer is a page rendered in reply to the POST, and every page here is no-store.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import generate_csrf
from wtforms import BooleanField, HiddenField, RadioField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length

from ..decisions import declines
from ..errors import NotReady, ReplayedForm
from ..records import conversation, offers, verdicts
from . import prerender
from .connections import get_store, settings
from .forms import CODENAME_MAX, AidForm, StatusForm, blank_form, choice_required, new_form_nonce, no_control_characters
from .pages import message, refused

bp = Blueprint("status", __name__)
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


COMMENT_MAX = 2000


class VerdictForm(AidForm):
    codename = HiddenField(validators=[InputRequired(), Length(max=CODENAME_MAX), no_control_characters])
    received = RadioField(_l("Did you receive the help?"), validate_choice=False,
                          validators=[choice_required(_l("Say whether you received the help."))])
    needed = RadioField(_l("Was it what you needed?"), validate_choice=False,
                        validators=[choice_required(_l("Say whether it was what you needed."))])
    comment = TextAreaField(
        _l("Anything you want to tell the coordinators? (optional)"),
        validators=[Length(max=COMMENT_MAX, message=_l("Please keep this under %(max)d characters.", max=COMMENT_MAX)),
                    no_control_characters],
    )
    form_nonce = HiddenField(default=new_form_nonce, validators=[InputRequired(), Length(min=16, max=64)])


def with_answers(form: VerdictForm) -> VerdictForm:
    """The verdict form with its answers in this page's language (choices are set after the form is made)."""
    form.received.choices = [("yes", _("Yes")), ("partly", _("Partly: some of it")), ("no", _("No"))]
    form.needed.choices = [("yes", _("Yes")), ("partly", _("Partly")), ("no", _("No, it was not"))]
    return form


class DeclineForm(AidForm):
    codename = HiddenField(validators=[InputRequired(), Length(max=CODENAME_MAX), no_control_characters])
    sure = BooleanField(
        _l("Yes, I no longer need this help. It can go to someone else."),
        validators=[DataRequired(_l("Tick the box to confirm that you no longer need this help."))],
    )


def not_found(form: StatusForm | None = None, code: int = 404, form_errors: list[Any] | None = None,
              an_offer: bool = False) -> tuple[str, int]:
    """The status form again, saying the codename found nothing (form: as sent, or a blank one).

    an_offer: the codename is an offer's (only its holder can know that), so the page points there instead.
    """
    # Wrong and unknown codenames get the same answer: nothing tells them apart.
    form = form or StatusForm(formdata=None)
    if form_errors is not None:
        form.form_errors = list(form_errors)
    offer = _("This codename is for an offer of help, not a request. Use the link “Check an offer with a codename” below.")
    form.codename.errors = [offer if an_offer else
                            _("We could not find a request with that codename. Check the words and try again.")]
    return render_template("public/status.html", form=form, view=None), code


def status_page(codename: str, *, answer_form: AnswerForm | None = None, withdraw_form: WithdrawForm | None = None,
                notice: str | None = None, code: int = 200, status_form: StatusForm | None = None,
                verdict_form: VerdictForm | None = None, decline_form: DeclineForm | None = None) -> tuple[str, int]:
    """The status page for a codename: status, verdict, decline, conversation, answer and withdraw forms."""
    store = get_store()
    view = conversation.for_requester(store, settings(), codename)
    verdict = verdicts.state_for(store, settings(), codename)
    if view is None or verdict is None:
        return not_found(status_form, an_offer=offers.offer_status(store, settings(), codename) is not None)
    answer_form = answer_form or AnswerForm(formdata=None, codename=codename)
    withdraw_form = withdraw_form or WithdrawForm(formdata=None, codename=codename)
    verdict_form = verdict_form or with_answers(VerdictForm(formdata=None, codename=codename))
    decline_form = decline_form or DeclineForm(formdata=None, codename=codename)
    return render_template("public/status.html", form=status_form or StatusForm(formdata=None), view=view,
                           answer_form=answer_form, withdraw_form=withdraw_form, notice=notice, verdict=verdict,
                           verdict_form=verdict_form, decline_form=decline_form,
                           can_decline=declines.can_decline(store, settings(), codename)), code


@bp.get("/status")
def status_form() -> str:
    return prerender.page(
        "status-form",
        lambda v: render_template("public/status.html", form=blank_form(StatusForm(), v), view=None),
        {"csrf": generate_csrf()},
    )


@bp.post("/status")
def status() -> tuple[str, int]:
    form = StatusForm()
    if not form.validate_on_submit():
        return render_template("public/status.html", form=form, view=None), 400
    return status_page(form.codename.data, status_form=form)


@bp.post("/status/answer")
def answer() -> Any:
    form = AnswerForm()
    if not form.validate_on_submit():
        if form.codename.errors or conversation.for_requester(get_store(), settings(), form.codename.data) is None:
            return not_found(code=400, form_errors=form.form_errors)
        return status_page(form.codename.data, answer_form=form, code=400)
    try:
        sent = conversation.answer(get_store(), settings(), form.codename.data, form.answer.data, form.form_nonce.data)
    except (ReplayedForm, NotReady) as exc:
        return refused(exc, "answer")
    if not sent:
        return not_found()
    return status_page(form.codename.data, notice=_("Your answer was sent. Only you and the coordinators can read it."))


@bp.post("/status/withdraw")
def withdraw() -> Any:
    form = WithdrawForm()
    if not form.validate_on_submit():
        if form.codename.errors or conversation.for_requester(get_store(), settings(), form.codename.data) is None:
            return not_found(code=400, form_errors=form.form_errors)
        return status_page(form.codename.data, withdraw_form=form, code=400)
    if not conversation.withdraw(get_store(), settings(), form.codename.data):
        return not_found()
    return message(_("Your request was erased"),
                   _("Your request, the replies and your answers are gone for good. The codename no longer opens "
                     "anything. If you still need help, you can ask again at any time."))


@bp.post("/status/verdict")
def verdict() -> Any:
    form = with_answers(VerdictForm())
    if not form.validate_on_submit():
        if form.codename.errors or conversation.for_requester(get_store(), settings(), form.codename.data) is None:
            return not_found(code=400, form_errors=form.form_errors)
        return status_page(form.codename.data, verdict_form=form, code=400)
    given = verdicts.Verdict(form.received.data, form.needed.data, form.comment.data or "")
    try:
        sent = verdicts.give(get_store(), settings(), form.codename.data, given, form.form_nonce.data)
    except (ReplayedForm, NotReady) as exc:
        return refused(exc, "answer")
    except verdicts.VerdictGiven:
        return status_page(form.codename.data, code=409,
                           notice=_("You already told us how it went, and we keep that first answer. "
                                    "To add something, answer the coordinators below."))
    except verdicts.NotYet:
        return status_page(form.codename.data, code=409,
                           notice=_("We ask how it went once the help has been handed over. Check again later."))
    if not sent:
        return not_found()
    return status_page(form.codename.data, notice=_("Thank you for telling us how it went. Only the coordinators "
                                                     "can read your comment; your answers are counted, with no name."))


@bp.post("/status/decline")
def decline() -> Any:
    form = DeclineForm()
    if not form.validate_on_submit():
        if form.codename.errors or conversation.for_requester(get_store(), settings(), form.codename.data) is None:
            return not_found(code=400, form_errors=form.form_errors)
        return status_page(form.codename.data, decline_form=form, code=400)
    try:
        done = declines.decline(get_store(), settings(), form.codename.data)
    except declines.NothingToDecline:
        return status_page(form.codename.data, code=409,
                           notice=_("No help for this request is waiting to be handed over, so there is nothing to "
                                    "decline."))
    if not done:
        return not_found()
    return status_page(form.codename.data, notice=_("Done: the help agreed for you can now go to someone else, and "
                                                     "your request is closed. If you need help again, you can ask "
                                                     "at any time."))
