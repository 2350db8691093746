"""Offering help: the offer form and receipt, and the offer's status and withdrawal by codename."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import generate_csrf
from wtforms import HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length

from ..errors import NotReady, ReplayedForm
from ..policy import ANSWER_MAX
from ..records import offers
from ..records.budget import Busy
from . import gate, prerender
from .ask import labelled, receipt
from .connections import get_store, intake_budget, settings
from .forms import (
    AidForm,
    StatusForm,
    blank_form,
    choice_required,
    choices_once,
    new_form_nonce,
    no_control_characters,
)
from .labels import offer_kinds
from .pages import message, refused

bp = Blueprint("offers", __name__)


class OfferForm(AidForm):
    kind = RadioField(_l("What can you offer?"), validate_choice=False,
                      validators=[choice_required(_l("Choose what you can offer."))])
    category = SelectField(_l("What kind of help is it?"), validate_choice=False,
                           validators=[choice_required(_l("Choose the kind of help from the list."))])
    area = SelectField(_l("Which area can you help in?"), validate_choice=False,
                       validators=[choice_required(_l("Choose your area from the list."))])
    what = TextAreaField(_l("Tell us about your offer"),
                         validators=[DataRequired(_l("Tell us what you can offer.")),
                                     Length(max=4000, message=_l("Please keep this under %(max)d characters.", max=4000)),
                                     no_control_characters])
    contact = StringField(_l("How can we reach you? (optional)"),
                          validators=[Length(max=300, message=_l("Please keep this under %(max)d characters.", max=300)),
                                      no_control_characters])
    form_nonce = HiddenField(default=new_form_nonce, validators=[InputRequired(), Length(min=16, max=64)])
    answer = StringField("", validators=[  # the group's question (web/gate.py), labelled per language
        Length(max=ANSWER_MAX, message=_l("Please keep this under %(max)d characters.", max=ANSWER_MAX)),
        no_control_characters])


def _offer_form() -> OfferForm:
    form = OfferForm()
    form.kind.choices = choices_once("offer-kinds", offer_kinds)
    form.category.choices = labelled("categories")
    form.area.choices = labelled("areas")
    return gate.ask_question(form)


@bp.route("/offer", methods=["GET", "POST"])
def offer() -> Any:
    if request.method in ("GET", "HEAD"):  # the same for everyone but two tokens: drawn once (prerender.py)
        return prerender.page("offer-form",
                           lambda v: render_template("public/offer.html", form=blank_form(_offer_form(), v)),
                           {"csrf": generate_csrf(), "nonce": new_form_nonce()})
    form = _offer_form()
    valid = form.validate()
    if not gate.answered(form) or not valid:
        return render_template("public/offer.html", form=form), 400
    details = offers.OfferDetails(form.kind.data, form.category.data, form.area.data, form.what.data,
                                  form.contact.data or "")
    try:
        codename = offers.submit_offer(get_store(), settings(), details, form.form_nonce.data,
                                        budget=intake_budget())
    except Busy as exc:
        return gate.busy("public/offer.html", form, exc)
    except (ReplayedForm, NotReady) as exc:
        return refused(exc, "offer")
    return receipt("public/offer_receipt.html", codename), 201


@bp.route("/offer/status", methods=["GET", "POST"])
def offer_status() -> Any:
    form = StatusForm()
    if not form.is_submitted():
        return render_template("public/offer_status.html", form=form, status=None, withdraw_form=None)
    if not form.validate():
        return render_template("public/offer_status.html", form=form, status=None, withdraw_form=None), 400
    status = offers.offer_status(get_store(), settings(), form.codename.data)
    if status is None:
        form.codename.errors = [_("We could not find an offer with that codename. Check the words and try again.")]
        return render_template("public/offer_status.html", form=form, status=None, withdraw_form=None), 404
    return render_template("public/offer_status.html", form=form, status=status, withdraw_form=StatusForm())


@bp.post("/offer/withdraw")
def offer_withdraw() -> Any:
    form = StatusForm()
    if not form.validate() or not offers.withdraw_offer(get_store(), settings(), form.codename.data):
        form.codename.errors = form.codename.errors or [
            _("We could not find an offer with that codename. Check the words and try again.")]
        return render_template("public/offer_status.html", form=form, status=None, withdraw_form=None), 404
    return message(_("Offer withdrawn"), _("Your offer is erased. Thank you for offering."))
