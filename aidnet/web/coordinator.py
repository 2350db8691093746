"""The coordinators' inbox and request pages: read a page of requests at a time, change a status, reply."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..decisions import proposals
from ..errors import ReplayedForm
from ..records import conversation, coordinators, requests, verdicts
from ..store import accounts as account_rows
from ..store import decision_log as log_rows
from ..store import requests as request_rows
from .auth import login_required
from .connections import get_store, settings
from .forms import EmptyForm, HandlerForm, ReplyForm, StatusChangeForm
from .labels import status_labels, urgency_labels
from .pages import site_path
from .request_page import handler_choices, render_request, status_choices

bp = Blueprint("coordinator", __name__, url_prefix="/coordinator")


WHO = ("", "mine", "unassigned")
SPAM_MAX = 100  # requests marked as spam in one action: a page of the inbox, several times over


def _filter() -> tuple[request_rows.Filter, dict[str, str]]:
    """The inbox filter from the query string (400 for a value not offered), and the query to keep in links."""
    status, who, waiting, per = (request.args.get(k, "") for k in ("status", "who", "waiting", "per"))
    if ((status and status not in request_rows.STATUS_VALUES) or who not in WHO or waiting not in ("", "1")
            or per not in ("", str(SPAM_MAX))):
        abort(400)
    only = request_rows.Filter(status=status or None, unassigned=who == "unassigned", awaiting=waiting == "1",
                               handler=g.session.coordinator.id if who == "mine" else None)
    return only, {k: v for k, v in (("status", status), ("who", who), ("waiting", waiting), ("per", per)) if v}


@bp.get("/")
@login_required
def inbox() -> Any:
    page = request.args.get("page", 1, type=int) or 1
    if page < 1 or page > 100000:
        abort(404)
    only, kept = _filter()
    # A keyholder signed in, with keys at hand: decisions that have their signatures become final now, and a
    # re-seal that waited for one (a membership made final from offline) starts.
    if proposals.reseal_wanted(get_store(), settings(), g.session.keys):
        return redirect(url_for("decisions.resealing", at="start", then="final"), code=303)
    store = get_store()
    # A long page (per=100) lets a coordinator tick a whole flood at once.
    rows, more = requests.inbox_page(store, g.session.keys, page, per_page=SPAM_MAX if "per" in kept else 20,
                                     only=only)
    me = g.session.keys.sign_public.hex()  # decisions waiting for this keyholder's signature
    waiting = sum(1 for p in log_rows.proposals(store)
                  if me not in {s["signer"] for s in p.signatures} and me not in p.declines)
    # What came in since this coordinator last looked: marked on the rows, counted at the top.
    last, newest = account_rows.last_seen(store, g.session.coordinator.id), request_rows.newest_seq(store)
    fresh = request_rows.count_after(store, last) if newest > last else 0
    if newest > last:
        with store.write() as tx:
            account_rows.set_last_seen(tx, g.session.coordinator.id, newest)
    handlers = {r.id: r.handle for r in account_rows.all_accounts(store)}
    spammed = request.args.get("spam", -1, type=int)
    return render_template("coordinator/inbox.html", rows=rows, page=page, more=more, waiting=waiting,
                           labels=status_labels(), urgency=urgency_labels(), logout_form=EmptyForm(), s=settings(),
                           last_seen=last, fresh=fresh, handlers=handlers, kept=kept, only=only,
                           spam_form=EmptyForm(), spam_from=requests.SPAM_FROM, spammed=spammed)


@bp.post("/spam")
@login_required
def spam() -> Any:
    """Requests ticked in the inbox, erased at once as spam: first a page that lists them and asks, then done."""
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    chosen = [i for i in dict.fromkeys(request.form.getlist("request")) if requests.parse_id(i)][:SPAM_MAX]
    store = get_store()
    rows = [r for r in (requests.open_request(store, g.session.keys, i) for i in chosen)
            if r is not None and r.details is not None and r.status in requests.SPAM_FROM]
    if not rows:
        return render_template("coordinator/spam.html", rows=[], form=EmptyForm(), logout_form=EmptyForm()), 400
    if request.form.get("confirm") != "1":
        return render_template("coordinator/spam.html", rows=rows, form=EmptyForm(), logout_form=EmptyForm())
    try:
        erased = requests.mark_spam(store, g.session.keys, [r.id for r in rows])
    except requests.NotYours:
        abort(403)
    return redirect(url_for("coordinator.inbox", spam=erased), code=303)


@bp.get("/verdicts")
@login_required
def verdict_months() -> Any:
    """What requesters said of the help, per month: how many answered, and the share who said "no"."""
    return render_template("coordinator/verdicts.html", months=verdicts.by_month(get_store()), logout_form=EmptyForm())


@bp.post("/language")
@login_required
def choose_language() -> Any:
    """The language this coordinator reads the pages in, remembered for the account; back to the same page."""
    form = EmptyForm()
    code = request.form.get("language", "")
    if not form.validate_on_submit() or code not in {la.code for la in current_app.config["AIDNET_LANGUAGES"]}:
        abort(400)
    coordinators.set_language(get_store(), g.session.coordinator.id, code)
    back = request.form.get("next", "")
    # Only a page of this site's coordinator area: never a redirect elsewhere.
    if not site_path(back, "/coordinator/"):
        back = url_for("coordinator.inbox")
    return redirect(back, code=303)


@bp.get("/request/<request_id>")
@login_required
def show(request_id: str) -> Any:
    notices = {"status": _("Status saved."), "handler": _("Saved who handles this request."),
               "reply": _("Reply sent, signed by you. The requester and the coordinators can read it.")}
    return render_request(request_id, notice=notices.get(request.args.get("saved", "")))


@bp.post("/request/<request_id>/status")
@login_required
def change_status(request_id: str) -> Any:
    form = StatusChangeForm()
    opened = requests.open_request(get_store(), g.session.keys, request_id)
    if opened is None:
        abort(404)
    form.status.choices = status_choices(opened.status)
    if not form.validate_on_submit():
        return render_request(request_id, status_form=form, code=400)
    try:
        changed = requests.change_status(get_store(), settings(), g.session.keys, request_id, form.status.data)
    except requests.ForbiddenTransition:
        form.status.errors = [_("A request with this status cannot be given that one. Choose one from the list.")]
        return render_request(request_id, status_form=form, code=400)
    if not changed:
        abort(404)
    return redirect(url_for("coordinator.show", request_id=request_id, saved="status"), code=303)


@bp.post("/request/<request_id>/handler")
@login_required
def handler(request_id: str) -> Any:
    """I'll handle this / hand it to a colleague / nobody: who handles it is an account id, kept in clear."""
    form = HandlerForm()
    form.handler.choices = handler_choices()
    if not form.validate_on_submit():
        return render_request(request_id, handler_form=form, code=400)
    try:
        found = requests.set_handler(get_store(), g.session.keys, request_id,
                                     int(form.handler.data) if form.handler.data else None)
    except requests.NotYours:
        abort(403)
    if not found:
        abort(404)
    return redirect(url_for("coordinator.show", request_id=request_id, saved="handler"), code=303)


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
