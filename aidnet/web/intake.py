"""Requests that come by phone, at a table or on paper: a coordinator types them in for the person.

The request is sealed exactly as one sent from the public form (records.requests.submit_request): nothing
says which coordinator typed it or how it came. The page after it is a slip to read out or hand over, with
the codename; the codename is shown once, as on the public receipt. The blank paper form is public (/paper,
/es/paper…): anyone can print it in their language and bring it to the group.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from wtforms import RadioField, SelectField

from ..errors import NotReady, ReplayedForm
from ..records import requests
from . import i18n
from .ask import labelled, request_form
from .auth import login_required
from .connections import get_store, settings
from .forms import EmptyForm, RequestForm, choice_required
from .labels import urgency_labels
from .pages import refused

bp = Blueprint("intake", __name__, url_prefix="/coordinator")


class IntakeForm(RequestForm):
    channel = RadioField(_l("How did it come?"), default="phone", validate_choice=False,
                         validators=[choice_required(_l("Choose how the request came."))])
    language = SelectField(_l("The requester's language, for the slip"), validate_choice=False,
                           validators=[choice_required(_l("Choose a language from the list."))])


def intake_form() -> IntakeForm:
    form = IntakeForm()
    request_form(form)
    form.channel.choices = [("phone", _("Taken by phone")), ("in_person", _("Taken in person")),
                            ("paper", _("From a paper form"))]
    form.language.choices = [(la.code, la.name) for la in current_app.config["AIDNET_LANGUAGES"]]
    if not form.is_submitted():
        form.language.data = i18n.current_language()
    return form
paper_bp = Blueprint("paper", __name__)


@bp.get("/intake")
@login_required
def form() -> Any:
    return render_template("coordinator/intake.html", form=intake_form(), logout_form=EmptyForm())


@bp.post("/intake")
@login_required
def take() -> Any:
    sent = intake_form()
    if not sent.validate_on_submit():
        return render_template("coordinator/intake.html", form=sent, logout_form=EmptyForm()), 400
    details = requests.RequestDetails(
        category=sent.category.data, area=sent.area.data, need=sent.need.data, contact=sent.contact.data or "",
        urgency=sent.urgency.data, for_someone_else=bool(sent.for_someone_else.data), channel=sent.channel.data)
    try:
        codename = requests.submit_request(get_store(), settings(), details, sent.form_nonce.data)
    except (ReplayedForm, NotReady) as exc:
        return refused(exc, "request")
    with i18n.speaking(sent.language.data):  # the slip is the requester's: in their language
        slip = render_template("coordinator/_slip.html", codename=codename, onion=settings().onion_location)
    return render_template("coordinator/intake_slip.html", slip=Markup(slip),  # noqa: S704  # our own template, autoescaped
                           slip_language=sent.language.data,
                           logout_form=EmptyForm()), 201


@paper_bp.get("/paper")
def paper() -> Any:
    """The request form on paper: the same questions, boxes to tick, lines to write on."""
    return render_template("public/paper.html", categories=labelled("categories")[1:], areas=labelled("areas")[1:],
                           urgency=urgency_labels())
