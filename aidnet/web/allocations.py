"""Decisions about one request: allocate, record a hand-over, dispute (forms on the request page)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, g
from flask_babel import gettext as _

from .. import governance, intake, logstore
from ..db import get_store
from .coordinator import login_required
from .decisions import decision_labels, propose_decision
from .governance_forms import AllocationForm, DisputeForm, ProposalActionForm

bp = Blueprint("allocations", __name__, url_prefix="/coordinator/decisions")


# Allocation, hand-over and disputes for one request (forms shown on the request page).


def _allocation_form() -> AllocationForm:
    form = AllocationForm()
    offers = [(f"offer:{row.id.hex()}", _("Offer %(seq)s", seq=row.seq)) for row in logstore.open_offers(get_store())]
    form.source.choices = [("money", _("Money")), ("stock", _("Stock"))] + offers
    return form


def request_context(request_id: str, allocation_form: AllocationForm | None = None) -> dict[str, Any]:
    """What the request page shows about decisions on this request."""
    store = get_store()
    form = allocation_form or _allocation_form()
    decisions = []
    for record in logstore.records(store):
        proposal = record["proposal"]
        if proposal["body"].get("request") == request_id:
            decisions.append({"id": proposal["id"], "type": proposal["type"], "label": decision_labels()[proposal["type"]],
                              "note": governance.open_note(store, proposal["id"], proposal["body"].get("note"),
                                                           g.session.keys)})
    return {"allocation_form": form, "dispute_form": DisputeForm(), "decisions_for_request": decisions,
            "handover_form": ProposalActionForm()}


@bp.post("/request/<request_id>/allocate")
@login_required
def allocate(request_id: str) -> Any:
    if intake.open_request(get_store(), g.session.keys, request_id) is None:
        abort(404)
    form = _allocation_form()
    valid = form.validate_on_submit()
    kind, _sep, ref = str(form.source.data).partition(":")
    if valid and form.source.data not in dict(form.source.choices):
        form.source.errors = [_("Choose money, stock or an open offer from the list.")]  # e.g. the offer went meanwhile
        valid = False
    if valid and kind == "money" and not form.amount.data:
        form.amount.errors = [_("Give the amount of money.")]
        valid = False
    if not valid:
        from .coordinator import render_request

        return render_request(request_id, code=400, allocation_form=form)
    source = {"kind": kind, "ref": ref or None, "amount": form.amount.data if kind == "money" else None}
    return propose_decision("allocation", {"request": request_id, "source": source}, form.note.data or "")


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
    state = governance.current(get_store())
    if g.session.keys.sign_public.hex() not in state.members:
        abort(403)
    about = {d["id"] for d in request_context(request_id)["decisions_for_request"] if d["type"] != "dispute"}
    if intake.open_request(get_store(), g.session.keys, request_id) is None or form.decision.data not in about:
        abort(404)
    return propose_decision("dispute", {"decision": form.decision.data, "request": request_id}, form.note.data or "")
