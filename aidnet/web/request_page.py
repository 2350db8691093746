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

from ..decisions.notes import open_note
from ..records import conversation
from ..records.requests import STATUSES, open_request
from ..store import decision_log as log_rows
from ..store import offers as offer_rows
from .connections import get_store, settings
from .decision_forms import AllocationForm, DisputeForm, ProposalActionForm
from .forms import EmptyForm, ReplyForm, StatusChangeForm
from .labels import decision_labels, status_labels, urgency_labels


def status_choices() -> list[tuple[str, str]]:
    # "allocated" is reached only by a quorum-signed decision, never by hand.
    return [(k, v) for k, v in status_labels().items() if k in STATUSES]


def allocation_form() -> AllocationForm:
    form = AllocationForm()
    offers = [(f"offer:{row.id.hex()}", _("Offer %(seq)s", seq=row.seq)) for row in offer_rows.open_offers(get_store())]
    form.source.choices = [("money", _("Money")), ("stock", _("Stock"))] + offers
    return form


def decisions_for_request(request_hex: str) -> list[dict[str, Any]]:
    """Final decisions about this request, their notes opened for this keyholder."""
    store = get_store()
    labels = decision_labels()
    found = []
    for record in log_rows.records(store):
        proposal = record["proposal"]
        if proposal["body"].get("request") == request_hex:
            found.append({"id": proposal["id"], "type": proposal["type"], "label": labels[proposal["type"]],
                          "note": open_note(store, proposal["id"], proposal["body"].get("note"), g.session.keys)})
    return found


def render_request(request_hex: str, status_form: StatusChangeForm | None = None, reply_form: ReplyForm | None = None,
                   notice: str | None = None, code: int = 200,
                   allocation_form_sent: AllocationForm | None = None) -> Any:
    """The request page; a form given here is shown as sent (its errors and the person's text)."""
    store = get_store()
    opened = open_request(store, g.session.keys, request_hex)
    if opened is None:
        abort(404)
    status_form = status_form or StatusChangeForm(status=opened.status)
    status_form.status.choices = status_choices()
    return render_template(
        "coordinator/request.html", r=opened, labels=status_labels(), s=settings(), urgency=urgency_labels(),
        allocation_form=allocation_form_sent or allocation_form(), dispute_form=DisputeForm(),
        decisions_for_request=decisions_for_request(request_hex), handover_form=ProposalActionForm(),
        thread=conversation.for_coordinator(store, g.session.keys, request_hex),
        status_form=status_form, reply_form=reply_form or ReplyForm(), logout_form=EmptyForm(), notice=notice,
    ), code
