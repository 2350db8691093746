"""Offers (public) and stock or funds received (coordinators)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import generate_csrf
from wtforms import HiddenField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from .. import intake, offers, shells
from ..db import get_store, settings
from .coordinator import login_required
from .forms import (
    AidForm,
    EmptyForm,
    StatusForm,
    blank_form,
    choice_required,
    choices_once,
    new_form_nonce,
    no_control_characters,
)
from .public import labelled, receipt

bp = Blueprint("offers", __name__)
admin = Blueprint("stock", __name__, url_prefix="/coordinator/stock")


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


class StockForm(AidForm):
    kind = SelectField(_l("What came in?"), validate_choice=False,
                       validators=[choice_required(_l("Choose goods or money."))])
    category = SelectField(_l("For which kind of help?"), validate_choice=False,
                           validators=[choice_required(_l("Choose the kind of help from the list."))])
    amount = IntegerField(_l("How much (items, or money in whole units)"),
                          validators=[DataRequired(_l("Give an amount.")), NumberRange(min=1, max=10_000_000)])
    note = TextAreaField(_l("Details (sealed)"), validators=[Optional(), Length(max=2000), no_control_characters])


def _kinds() -> list[tuple[str, str]]:
    return [("goods", _("Goods (food, clothes, things)")), ("time", _("My time")),
            ("transport", _("Transport")), ("money", _("Money"))]


def _offer_form() -> OfferForm:
    form = OfferForm()
    form.kind.choices = choices_once("offer-kinds", _kinds)
    form.category.choices = labelled("categories")
    form.area.choices = labelled("areas")
    return form


@bp.route("/offer", methods=["GET", "POST"])
def offer() -> Any:
    if request.method in ("GET", "HEAD"):  # the same for everyone but two tokens: drawn once (shells.py)
        return shells.page("offer-form",
                           lambda v: render_template("public/offer.html", form=blank_form(_offer_form(), v)),
                           {"csrf": generate_csrf(), "nonce": new_form_nonce()})
    form = _offer_form()
    if not form.validate():
        return render_template("public/offer.html", form=form), 400
    details = offers.OfferDetails(form.kind.data, form.category.data, form.area.data, form.what.data,
                                  form.contact.data or "")
    try:
        codename = offers.submit_offer(get_store(), settings(), details, form.form_nonce.data)
    except intake.ReplayedForm:
        return render_template("public/message.html", title=_("Already received"),
                               message=_("This form was already sent, and we have it.")), 409
    except intake.NotReady:
        return render_template("public/message.html", title=_("Not ready yet"),
                               message=_("This service cannot take offers yet. Nothing was kept. Please try again later.")), 503
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
    return render_template("public/message.html", title=_("Offer withdrawn"),
                           message=_("Your offer is erased. Thank you for offering.")), 200


def _stock_form() -> StockForm:
    form = StockForm()
    form.kind.choices = [("goods", _("Goods")), ("money", _("Money"))]
    form.category.choices = [("", _("Choose one"))] + list(settings().categories.items())
    return form


@admin.route("/", methods=["GET", "POST"])
@login_required
def stock() -> Any:
    form = _stock_form()
    code, notice = 200, None
    if form.is_submitted():
        if form.validate():
            offers.record_stock(get_store(), settings(), form.kind.data, form.category.data, form.amount.data,
                                form.note.data or "")
            return redirect(url_for("stock.stock", saved=1), code=303)
        code = 400
    return render_template("coordinator/stock.html", form=form, offers=offers.open_offers(get_store(), g.session.keys),
                           s=settings(), kinds=dict(_kinds()), logout_form=EmptyForm(), notice=notice), code


