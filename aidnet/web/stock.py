"""Stock and funds received, recorded by coordinators: details sealed, amounts and categories counted."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import IntegerField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from ..decisions import effects
from ..records import offers
from .auth import login_required
from .connections import get_store, settings
from .forms import AidForm, EmptyForm, choice_required, no_control_characters
from .labels import offer_kinds

bp = Blueprint("stock", __name__, url_prefix="/coordinator/stock")


class StockForm(AidForm):
    kind = SelectField(_l("What came in?"), validate_choice=False,
                       validators=[choice_required(_l("Choose goods or money."))])
    category = SelectField(_l("For which kind of help?"), validate_choice=False,
                           validators=[choice_required(_l("Choose the kind of help from the list."))])
    amount = IntegerField(_l("How much (items, or money in whole units)"),
                          validators=[DataRequired(_l("Give an amount.")), NumberRange(min=1, max=10_000_000)])
    note = TextAreaField(_l("Details (sealed)"), validators=[Optional(), Length(max=2000), no_control_characters])


def _stock_form() -> StockForm:
    form = StockForm()
    form.kind.choices = [("goods", _("Goods")), ("money", _("Money"))]
    form.category.choices = [("", _("Choose one"))] + list(settings().categories.items())
    return form


@bp.route("/", methods=["GET", "POST"])
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
                           s=settings(), kinds=dict(offer_kinds()), logout_form=EmptyForm(), notice=notice,
                           balance=effects.balance_cents(get_store()) // 100,
                           received=offers.stock_received(get_store(), g.session.keys)), code
