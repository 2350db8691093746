"""Offers, stock and money: receipts as signed decisions, balances and budgets per category."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import IntegerField, SelectField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from .. import dates
from ..decisions import effects, proposals, receipts
from ..decisions.proposals import DecisionRefused
from ..exports import periods
from ..records import offers
from ..sealing.readers import current
from ..store import counters
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


class BudgetForm(AidForm):
    category = SelectField(_l("Kind of help"), validate_choice=False,
                           validators=[choice_required(_l("Choose the kind of help from the list."))])
    amount = IntegerField(_l("Budget each month (whole units; 0 for none)"),
                          validators=[InputRequired(_l("Give an amount.")), NumberRange(min=0, max=10_000_000)])


class ThresholdForm(AidForm):
    threshold = IntegerField(_l("Money received from this amount up needs the quorum (whole units)"),
                             validators=[InputRequired(_l("Give an amount.")), NumberRange(min=0, max=10_000_000)])


def _categories() -> list[tuple[str, str]]:
    return [("", _("Choose one"))] + list(settings().categories.items())


def _stock_form() -> StockForm:
    form = StockForm()
    form.kind.choices = [("goods", _("Goods")), ("money", _("Money"))]
    form.category.choices = _categories()
    return form


def _budget_form() -> BudgetForm:
    form = BudgetForm()
    form.category.choices = _categories()
    return form


def month_moves(store: Any) -> dict[tuple[str, str], int]:
    """{(category, "in" | "out"): whole units} this month so far, from final receipts and allocations."""
    _kind, weeks = periods.weeks_of(dates.day_to_date(dates.today()).strftime("%Y-%m"))
    return {key: sum(v) for key, v in counters.contributions(store, weeks, current(store).money_in).items()}


def _page(code: int = 200, **forms: Any) -> tuple[str, int]:
    store = get_store()
    saved = request.args.get("saved")
    notice = {"final": _("Recorded and final: it counts now. Details are sealed; the log holds the kind of help "
                         "and the amount's band."),
              "pending": _("Recorded: it counts once enough keyholders have signed it on the Decisions page."),
              "refused": _("That entry has a receipt already.")}.get(saved or "")
    return render_template(
        "coordinator/stock.html", form=forms.get("form") or _stock_form(),
        budget_form=forms.get("budget_form") or _budget_form(),
        threshold_form=forms.get("threshold_form") or ThresholdForm(threshold=receipts.threshold(store)),
        action_form=EmptyForm(), offers=offers.open_offers(store, g.session.keys), s=settings(),
        kinds=dict(offer_kinds()), logout_form=EmptyForm(), notice=notice,
        balances=receipts.balances(store, settings()), total=effects.balance_cents(store) // 100, month=month_moves(store),
        threshold=receipts.threshold(store), waiting=receipts.waiting(store),
        received=offers.stock_received(store, g.session.keys)), code


def _done(final: bool) -> Any:
    return redirect(url_for("stock.stock", saved="final" if final else "pending"), code=303)


@bp.route("/", methods=["GET", "POST"])
@login_required
def stock() -> Any:
    if request.method == "GET":
        # Old payouts without a category take their request's, where this keyholder can read it (the balances below).
        effects.recover_payout_categories(get_store(), g.session.keys)
        return _page()
    form = _stock_form()
    if not form.validate():
        return _page(400, form=form)
    try:
        final = receipts.receive(get_store(), settings(), g.session.keys, form.kind.data, form.category.data,
                                 form.amount.data, form.note.data or "")
    except DecisionRefused:
        form.form_errors.append(_("Only a current keyholder can record a receipt."))
        return _page(403, form=form)
    return _done(final)


@bp.post("/received/<int:seq>")
@login_required
def sign_recorded(seq: int) -> Any:
    """An entry recorded before receipts were signed, proposed now as a receipt."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        final = receipts.receive_recorded(get_store(), settings(), g.session.keys, seq)
    except receipts.AlreadyProposed:
        return redirect(url_for("stock.stock", saved="refused"), code=303)
    except DecisionRefused:
        abort(403)
    return _done(final)


def _propose(kind: str, body: dict[str, Any]) -> Any:
    proposal = proposals.new_proposal(kind, body, g.session.keys)
    try:
        final = proposals.propose(get_store(), settings(), g.session.keys, proposal)
    except DecisionRefused:
        abort(409)
    return redirect(url_for("decisions.index", saved="final" if final else "pending"), code=303)


@bp.post("/budget")
@login_required
def budget() -> Any:
    form = _budget_form()
    if not form.validate_on_submit():
        return _page(400, budget_form=form)
    return _propose("set_budget", {"category": form.category.data, "amount": form.amount.data, "note": None})


@bp.post("/threshold")
@login_required
def threshold() -> Any:
    form = ThresholdForm()
    if not form.validate_on_submit():
        return _page(400, threshold_form=form)
    return _propose("set_threshold", {"threshold": form.threshold.data, "note": None})
