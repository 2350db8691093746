"""The coordinator's page for one request: the request, its conversation, its decisions, and every form on it.

Several blueprints post to forms on this page (status and reply in
coordinator.py, allocate / hand over / dispute in allocations.py); each shows
the page again with its own form as sent (its errors, the person's text)
through render_request.
"""

from __future__ import annotations

from typing import Any

from flask import abort, g, render_template
from flask_babel import gettext as _

from ..decisions import effects
from ..decisions.notes import open_note
from ..decisions.receipts import balances
from ..records import conversation, verdicts
from ..records.offers import best_matches, open_offers, stock_received, stock_totals
from ..records.requests import OpenRequest, handlers, next_statuses, open_request
from ..store import decision_log as log_rows
from ..store import verdicts as verdict_rows
from .connections import get_store, settings
from .decision_forms import AllocationForm, DisputeForm, ProposalActionForm
from .forms import EmptyForm, HandlerForm, ReplyForm, StatusChangeForm
from .labels import decision_labels, offer_kinds, place_labels, status_labels, urgency_labels, verdict_labels
from .labels import money as money_label


def status_choices(current: str) -> list[tuple[str, str]]:
    """The statuses a request may be given by hand from `current`, `current` first (preselected)."""
    labels = status_labels()
    return [(k, labels[k]) for k in next_statuses(current)]


def handler_choices() -> list[tuple[str, str]]:
    """Nobody, then each current member; this coordinator's own entry says so."""
    me = g.session.coordinator.id
    return [("", _("Nobody"))] + [(str(id), _("%(handle)s (you)", handle=handle) if id == me else handle)
                                  for id, handle in handlers(get_store())]


def allocation_form(opened: OpenRequest | None = None) -> AllocationForm:
    """Money, stock, then each open offer in words (what, kind, category, area), those that fit the request first."""
    form = AllocationForm()
    details = opened.details if opened else None
    kinds = dict(offer_kinds())
    categories, areas = place_labels("categories"), place_labels("areas")
    offers = []
    for offer, fit in best_matches(open_offers(get_store(), g.session.keys),
                                   details.category if details else None, details.area if details else None):
        if offer.details is None:
            label = _("Offer %(seq)s (not sealed to your key)", seq=offer.seq)
        else:
            d = offer.details
            label = _("Offer %(seq)s: %(what)s (%(kind)s; %(category)s, %(area)s)", seq=offer.seq,
                      what=d.what if len(d.what) <= 60 else d.what[:59] + "…", kind=kinds.get(d.kind, d.kind),
                      category=categories.get(d.category, d.category), area=areas.get(d.area, d.area))
            if fit == 2:
                label = _("Fits this request: %(offer)s", offer=label)
        offers.append((f"offer:{offer.id}", label))
    received = stock_totals(stock_received(get_store(), g.session.keys))
    goods = ", ".join(f"{categories.get(c, c)} {n}" for (kind, c), n in sorted(received.items()) if kind == "goods")
    by_category = ", ".join(f"{categories.get(b.category, b.category)} {money_label(b.available)}"
                            for b in balances(get_store(), settings()) if b.received or b.allocated)
    total = money_label(effects.balance_cents(get_store()) // 100)
    money = (_("Money (not yet allocated: %(n)s; by kind of help: %(each)s)", n=total, each=by_category)
             if by_category else _("Money (not yet allocated: %(n)s)", n=total))
    stock = _("Stock (received: %(what)s)", what=goods) if goods else _("Stock (nothing recorded yet)")
    form.source.choices = [("money", money), ("stock", stock)] + offers
    return form


def decisions_for_request(request_hex: str) -> list[dict[str, Any]]:
    """Final decisions about this request, their notes opened for this keyholder."""
    store = get_store()
    labels = decision_labels()
    records = log_rows.records(store)
    # An allocation handed over (or whose hand-over waits for signatures) offers no second hand-over.
    handed = {p["body"].get("allocation") for p in [r["proposal"] for r in records]
              + [p.proposal for p in log_rows.proposals(store)] if p["type"] == "distribution"}
    declined = verdict_rows.declined(store)  # by the requester, before the hand-over
    found = []
    for record in records:
        proposal = record["proposal"]
        if proposal["body"].get("request") == request_hex:
            found.append({"id": proposal["id"], "type": proposal["type"], "label": labels[proposal["type"]],
                          "handed": proposal["id"] in handed, "declined": proposal["id"] in declined,
                          "note": open_note(store, proposal["id"], proposal["body"].get("note"), g.session.keys)})
    return found


def render_request(request_hex: str, status_form: StatusChangeForm | None = None, reply_form: ReplyForm | None = None,
                   notice: str | None = None, code: int = 200,
                   allocation_form_sent: AllocationForm | None = None,
                   handler_form: HandlerForm | None = None) -> Any:
    """The request page; a form given here is shown as sent (its errors and the person's text)."""
    store = get_store()
    opened = open_request(store, g.session.keys, request_hex)
    if opened is None:
        abort(404)
    status_form = status_form or StatusChangeForm(status=opened.status)
    status_form.status.choices = status_choices(opened.status)
    handler_form = handler_form or HandlerForm(handler=str(opened.handler) if opened.handler else "")
    handler_form.handler.choices = handler_choices()
    names = dict(handler_form.handler.choices)
    return render_template(
        "coordinator/request.html", r=opened, labels=status_labels(), s=settings(), urgency=urgency_labels(),
        allocation_form=allocation_form_sent or allocation_form(opened), dispute_form=DisputeForm(),
        decisions_for_request=decisions_for_request(request_hex), handover_form=ProposalActionForm(),
        thread=conversation.for_coordinator(store, g.session.keys, request_hex),
        verdict=verdicts.for_coordinator(store, g.session.keys, request_hex), answers=verdict_labels(),
        status_form=status_form, handler_form=handler_form, claim_form=EmptyForm(), me=str(g.session.coordinator.id),
        handler_name=names.get(str(opened.handler)) if opened.handler else None,
        reply_form=reply_form or ReplyForm(), logout_form=EmptyForm(), notice=notice,
    ), code
