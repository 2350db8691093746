"""Coordinator login: the session cookie, login_required, and the login and logout pages.

The cookie holds a random token and the session key that unwraps this
session's copy of the coordinator's keys (records.coordinators); it is
HttpOnly, SameSite=Strict, scoped to /coordinator, and ends on logout, when
idle too long, or after the session's hard limit.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, current_app, g, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from ..records import coordinators
from . import i18n
from .connections import get_store, settings
from .forms import EmptyForm, LoginForm

bp = Blueprint("auth", __name__, url_prefix="/coordinator")
COOKIE = "aidnet_coordinator"


def cookie_value() -> bytes:
    try:
        return base64.urlsafe_b64decode(request.cookies.get(COOKIE, "").encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return b""


def _clear_cookie(response: Response) -> Response:
    response.delete_cookie(COOKIE, path="/coordinator", httponly=True, samesite="Strict",
                           secure=settings().secure_cookies)
    return response


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """The view runs only for a live session, with g.session (the account and its keys) set."""
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        session = coordinators.resume(get_store(), settings(), cookie_value())
        if session is None:
            return _clear_cookie(redirect(url_for("auth.login", expired=1 if COOKIE in request.cookies else None)))
        g.session = session
        i18n.use_language(session.coordinator.language)
        return view(*args, **kwargs)
    return wrapper


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    # The login page's language is picked by a link (?lang=es); the account's own choice applies after login.
    chosen = request.args.get("lang", "")
    i18n.use_language(chosen)
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
        form.form_errors.append(_("Too many wrong attempts. Please wait a minute and try again."))
        response = make_response(render_template("coordinator/login.html", form=form), 429)
        response.headers["Retry-After"] = "60"
        return response
    except coordinators.LoginFailed:
        form.form_errors.append(_("That handle and passphrase do not match. Check them and try again."))
        # Said on every failure, so it never tells that the passphrase alone was right.
        form.form_errors.append(_("If you turned on two-step login, check the code from your app too."))
        return render_template("coordinator/login.html", form=form), 403
    # A new session at login: any session this browser held before ends on the server, and the
    # CSRF secret is dropped so a token issued before login (one someone else may have seen or
    # planted) no longer passes; the next page makes a fresh one.
    coordinators.logout(get_store(), cookie_value())
    session.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)
    if i18n.use_language(chosen):  # picked on the login page: remembered for this account
        opened = coordinators.resume(get_store(), settings(), cookie)
        if opened is not None:
            coordinators.set_language(get_store(), opened.coordinator.id, chosen)
    redirect_response = redirect(url_for("coordinator.inbox"), code=303)
    redirect_response.set_cookie(COOKIE, base64.urlsafe_b64encode(cookie).decode("ascii"), path="/coordinator",
                                 httponly=True, samesite="Strict", secure=settings().secure_cookies)
    return redirect_response


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Any:
    """End the session on the server. A stale or missing token gets a confirm form, never a quiet no."""
    form = EmptyForm()
    if request.method == "POST" and form.validate_on_submit():
        coordinators.logout(get_store(), cookie_value())
        return _clear_cookie(redirect(url_for("auth.login"), code=303))
    # The cookie stays: clearing it here would look like a logout while the session lives on the server.
    stale = request.method == "POST"
    return render_template("coordinator/logout.html", form=form, stale=stale), 400 if stale else 200
