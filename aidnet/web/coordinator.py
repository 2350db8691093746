"""The coordinators' side: log in, read the inbox a page at a time, answer, log out."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, abort, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from .. import conversation, coordinators, intake
from ..db import get_store, settings
from .forms import EmptyForm, LoginForm, ReplyForm, StatusChangeForm

bp = Blueprint("coordinator", __name__, url_prefix="/coordinator")
COOKIE = "aidnet_coordinator"


def _cookie_value() -> bytes:
    try:
        return base64.urlsafe_b64decode(request.cookies.get(COOKIE, "").encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return b""


def _clear_cookie(response: Response) -> Response:
    response.delete_cookie(COOKIE, path="/coordinator", httponly=True, samesite="Strict",
                           secure=settings().secure_cookies)
    return response


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        session = coordinators.resume(get_store(), settings(), _cookie_value())
        if session is None:
            return _clear_cookie(redirect(url_for("coordinator.login", expired=1 if COOKIE in request.cookies else None)))
        g.session = session
        return view(*args, **kwargs)
    return wrapper


def _urgency_labels() -> dict[str, str]:
    return {"today": _("Today or tomorrow"), "this_week": _("This week"), "whenever": _("When possible")}


def _status_labels() -> dict[str, str]:
    return {"new": _("New"), "in_progress": _("In progress"), "allocated": _("Allocated"),
            "fulfilled": _("Fulfilled"), "closed": _("Closed")}


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if request.method == "GET":
        notice = _("Your session ended. Please log in again.") if request.args.get("expired") else None
        return render_template("coordinator/login.html", form=form, notice=notice)
    if not form.validate_on_submit():
        return render_template("coordinator/login.html", form=form), 400
    try:
        cookie = coordinators.login(get_store(), settings(), form.handle.data, form.passphrase.data,
                                    form.code.data or "")
    except coordinators.Throttled:
        form.form_errors.append(_("Too many wrong attempts. Please wait 15 minutes and try again."))
        response = make_response(render_template("coordinator/login.html", form=form), 429)
        response.headers["Retry-After"] = "900"
        return response
    except coordinators.LoginFailed:
        form.form_errors.append(_("That handle and passphrase do not match. Check them and try again."))
        # Said on every failure, so it never tells that the passphrase alone was right.
        form.form_errors.append(_("If you turned on two-step login, check the code from your app too."))
        return render_template("coordinator/login.html", form=form), 403
    redirect_response = redirect(url_for("coordinator.inbox"), code=303)
    redirect_response.set_cookie(COOKIE, base64.urlsafe_b64encode(cookie).decode("ascii"), path="/coordinator",
                                 httponly=True, samesite="Strict", secure=settings().secure_cookies)
    return redirect_response


@bp.post("/logout")
def logout() -> Any:
    form = EmptyForm()
    if form.validate_on_submit():
        coordinators.logout(get_store(), _cookie_value())
    return _clear_cookie(redirect(url_for("coordinator.login"), code=303))


@bp.get("/")
@login_required
def inbox() -> str:
    page = request.args.get("page", 1, type=int) or 1
    if page < 1 or page > 100000:
        abort(404)
    rows, more = intake.inbox_page(get_store(), g.session.keys, page)
    from .. import logstore  # decisions waiting for this keyholder's signature

    me = g.session.keys.sign_public.hex()
    waiting = sum(1 for p in logstore.proposals(get_store())
                  if me not in {s["signer"] for s in p.signatures} and me not in p.declines)
    return render_template("coordinator/inbox.html", rows=rows, page=page, more=more, waiting=waiting,
                           labels=_status_labels(), urgency=_urgency_labels(), logout_form=EmptyForm(), s=settings())


def render_request(request_id: str, status_form: StatusChangeForm | None = None, reply_form: ReplyForm | None = None,
                   notice: str | None = None, code: int = 200, allocation_form: Any = None) -> Any:
    """The request page; a form given here is shown as sent (its errors and the person's text)."""
    opened = intake.open_request(get_store(), g.session.keys, request_id)
    if opened is None:
        abort(404)
    labels = _status_labels()
    status_form = status_form or StatusChangeForm(status=opened.status)
    # "allocated" is reached only by a quorum-signed decision, never by hand.
    status_form.status.choices = [(k, v) for k, v in labels.items() if k in intake.STATUSES]
    from .allocations import request_context  # the allocations blueprint builds on this one

    return render_template("coordinator/request.html", r=opened, labels=labels, s=settings(), urgency=_urgency_labels(),
                           **request_context(request_id, allocation_form),
                           answers=conversation.for_coordinator(get_store(), g.session.keys, request_id),
                           status_form=status_form, reply_form=reply_form or ReplyForm(),
                           logout_form=EmptyForm(), notice=notice), code


@bp.get("/request/<request_id>")
@login_required
def show(request_id: str) -> Any:
    notices = {"status": _("Status saved."), "reply": _("Reply sent. Only the requester can read it.")}
    return render_request(request_id, notice=notices.get(request.args.get("saved", "")))


@bp.post("/request/<request_id>/status")
@login_required
def change_status(request_id: str) -> Any:
    form = StatusChangeForm()
    form.status.choices = [(k, v) for k, v in _status_labels().items() if k in intake.STATUSES]
    if not form.validate_on_submit():
        return render_request(request_id, status_form=form, code=400)
    if not intake.change_status(get_store(), g.session.keys, request_id, form.status.data):
        abort(404)
    return redirect(url_for("coordinator.show", request_id=request_id, saved="status"), code=303)


@bp.post("/request/<request_id>/reply")
@login_required
def reply(request_id: str) -> Any:
    form = ReplyForm()
    if not form.validate_on_submit():
        return render_request(request_id, reply_form=form, code=400)
    if intake.open_request(get_store(), g.session.keys, request_id) is None or not intake.add_reply(
        get_store(), request_id, form.text.data
    ):
        abort(404)
    return redirect(url_for("coordinator.show", request_id=request_id, saved="reply"), code=303)
