"""Decisions about one request: allocate, record a hand-over, dispute (forms on the request page)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, g
from flask_babel import gettext as _

from ..decisions import effects
from ..records.requests import open_request
from ..sealing.readers import current
from .auth import login_required
from .connections import get_store
from .decision_forms import DisputeForm, ProposalActionForm
from .decisions import propose_decision
from .pages import not_enough_money
from .request_page import allocation_form, decisions_for_request, render_request

bp = Blueprint("allocations", __name__, url_prefix="/coordinator/decisions")


@bp.post("/request/<request_id>/allocate")
@login_required
def allocate(request_id: str) -> Any:
    opened = open_request(get_store(), g.session.keys, request_id)
    if opened is None:
        abort(404)
    form = allocation_form(opened)
    valid = form.validate_on_submit()
    kind, _sep, ref = str(form.source.data).partition(":")
    if valid and form.source.data not in dict(form.source.choices):
        form.source.errors = [_("Choose money, stock or an open offer from the list.")]  # e.g. the offer went meanwhile
        valid = False
    if valid and kind == "money" and not form.amount.data:
        form.amount.errors = [_("Give the amount of money.")]
        valid = False
    if not valid:
        return render_request(request_id, code=400, allocation_form_sent=form)
    # Money: the amount paid; stock: how many are given, if the coordinator says (an offer is given whole).
    source = {"kind": kind, "ref": ref or None, "amount": form.amount.data if kind in ("money", "stock") else None}
    try:
        return propose_decision("allocation", {"request": request_id, "source": source}, form.note.data or "")
    except effects.NotEnoughMoney as exc:  # beyond what this request's kind of help holds (effects.money_available)
        form.amount.errors = [not_enough_money(exc)]
        return render_request(request_id, code=400, allocation_form_sent=form)


@bp.post("/request/<request_id>/handover")
@login_required
def handover(request_id: str) -> Any:
    form = ProposalActionForm()
    if not form.validate_on_submit():
        abort(400)
    return propose_decision("distribution", {"request": request_id, "allocation": form.proposal.data})


@bp.post("/request/<request_id>/dispute")
@login_required
def dispute(request_id: str) -> Any:
    form = DisputeForm()
    if not form.validate_on_submit():
        abort(400)
    # Only a current member, only about a decision on this very request (ids only, never text, in the log).
    state = current(get_store())
    if g.session.keys.sign_public.hex() not in state.members:
        abort(403)
    about = {d["id"] for d in decisions_for_request(request_id) if d["type"] != "dispute"}
    if open_request(get_store(), g.session.keys, request_id) is None or form.decision.data not in about:
        abort(404)
    return propose_decision("dispute", {"decision": form.decision.data, "request": request_id}, form.note.data or "")
