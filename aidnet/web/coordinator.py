"""The coordinators' inbox and request pages: read a page of requests at a time, change a status, reply."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..decisions import proposals
from ..errors import ReplayedForm
from ..records import conversation, requests
from ..store import decision_log as log_rows
from .auth import login_required
from .connections import get_store, settings
from .forms import EmptyForm, ReplyForm, StatusChangeForm
from .labels import status_labels, urgency_labels
from .request_page import render_request, status_choices

bp = Blueprint("coordinator", __name__, url_prefix="/coordinator")


@bp.get("/")
@login_required
def inbox() -> Any:
    page = request.args.get("page", 1, type=int) or 1
    if page < 1 or page > 100000:
        abort(404)
    # A keyholder signed in, with keys at hand: decisions that have their signatures become final now, and a
    # re-seal that waited for one (a membership made final from offline) starts.
    if proposals.reseal_wanted(get_store(), settings(), g.session.keys):
        return redirect(url_for("decisions.resealing", at="start", then="final"), code=303)
    rows, more = requests.inbox_page(get_store(), g.session.keys, page)
    me = g.session.keys.sign_public.hex()  # decisions waiting for this keyholder's signature
    waiting = sum(1 for p in log_rows.proposals(get_store())
                  if me not in {s["signer"] for s in p.signatures} and me not in p.declines)
    return render_template("coordinator/inbox.html", rows=rows, page=page, more=more, waiting=waiting,
                           labels=status_labels(), urgency=urgency_labels(), logout_form=EmptyForm(), s=settings())


@bp.get("/request/<request_id>")
@login_required
def show(request_id: str) -> Any:
    notices = {"status": _("Status saved."),
               "reply": _("Reply sent, signed by you. The requester and the coordinators can read it.")}
    return render_request(request_id, notice=notices.get(request.args.get("saved", "")))


@bp.post("/request/<request_id>/status")
@login_required
def change_status(request_id: str) -> Any:
    form = StatusChangeForm()
    form.status.choices = status_choices()
    if not form.validate_on_submit():
        return render_request(request_id, status_form=form, code=400)
    if not requests.change_status(get_store(), settings(), g.session.keys, request_id, form.status.data):
        abort(404)
    return redirect(url_for("coordinator.show", request_id=request_id, saved="status"), code=303)


@bp.post("/request/<request_id>/reply")
@login_required
def reply(request_id: str) -> Any:
    form = ReplyForm()
    if not form.validate_on_submit():
        return render_request(request_id, reply_form=form, code=400)
    try:
        sent = conversation.add_reply(get_store(), g.session.keys, g.session.coordinator.handle, request_id,
                                      form.text.data, form.form_nonce.data)
    except conversation.NotAReader:
        abort(403)
    except ReplayedForm:
        sent = True  # the same form sent twice: the reply is kept once, and it is there
    if not sent:
        abort(404)
    return redirect(url_for("coordinator.show", request_id=request_id, saved="reply"), code=303)
