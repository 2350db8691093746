"""Asking for help: the request form, and the receipt with the codename."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf

from ..errors import NotReady, ReplayedForm
from ..records import requests
from ..records.budget import Busy
from . import gate, i18n, prerender
from .connections import get_store, intake_budget, settings
from .forms import RequestForm, blank_form, choices_once, new_form_nonce
from .labels import urgency_labels
from .pages import refused, site_path

bp = Blueprint("ask", __name__)


def labelled(kind: str) -> list[tuple[str, str]]:
    """The instance's labels for kind (categories, areas) in this page's language, after "Choose one"."""
    return choices_once(kind, lambda: [("", _("Choose one"))] + list(
        settings().labels_in(kind, i18n.current_language()).items()))


def request_form(form: RequestForm | None = None) -> RequestForm:
    """The request form with this page's choices (also typed in by a coordinator: intake.py)."""
    form = form or RequestForm()
    form.category.choices = labelled("categories")
    form.area.choices = labelled("areas")
    form.urgency.choices = choices_once("urgency", lambda: list(urgency_labels().items()))
    return form


def receipt(template: str, codename: str) -> str:
    """A receipt page: the same for everyone in a language but for the codename (prerender.py)."""
    return prerender.page(template, lambda v: render_template(template, codename=v["codename"]), {"codename": codename})


@bp.get("/")
def index() -> str:
    # The same page for everyone in a language but for two tokens: drawn once (prerender.py).
    return prerender.page(
        "request-form",
        lambda v: render_template("public/index.html", form=blank_form(gate.ask_question(request_form()), v)),
        {"csrf": generate_csrf(), "nonce": new_form_nonce()},
    )


@bp.post("/")
def submit() -> Any:
    form = gate.ask_question(request_form())
    valid = form.validate_on_submit()
    if not gate.answered(form) or not valid:
        return render_template("public/index.html", form=form), 400
    details = requests.RequestDetails(
        category=form.category.data, area=form.area.data, need=form.need.data,
        contact=form.contact.data or "", urgency=form.urgency.data,
        for_someone_else=bool(form.for_someone_else.data),
    )
    try:
        codename = requests.submit_request(get_store(), settings(), details, form.form_nonce.data,
                                               budget=intake_budget())
    except Busy as exc:
        return gate.busy("public/index.html", form, exc)
    except (ReplayedForm, NotReady) as exc:
        return refused(exc, "request")
    return receipt("public/receipt.html", codename), 201


@bp.get("/leave")
def leave() -> tuple[str, int]:
    """Between a receipt and any link on it: have you written the codename down? (a plain page, no script)"""
    to = request.args.get("to", "/")
    if not site_path(to):
        return render_template("public/leave.html", to=url_for("ask.index")), 400
    return render_template("public/leave.html", to=request.script_root + to), 200


@bp.get("/favicon.ico")
def favicon() -> Response:
    """The 70-byte icon, for browsers that ask at the root whatever the page says."""
    icon = Path(current_app.static_folder or "", "favicon.ico").read_bytes()  # 70 bytes: no file handle kept
    return Response(icon, mimetype="image/x-icon")
