"""The requester's side: ask for help, get a codename, check on it later."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf

from .. import i18n, intake, shells
from ..db import get_store, settings
from . import requester
from .forms import RequestForm, StatusForm, blank_form, choices_once, new_form_nonce

bp = Blueprint("public", __name__)


def _urgency_choices() -> list[tuple[str, str]]:
    return [("today", _("Today or tomorrow")), ("this_week", _("This week")), ("whenever", _("When possible"))]


def labelled(kind: str) -> list[tuple[str, str]]:
    """The instance's labels for kind (categories, areas) in this page's language, after "Choose one"."""
    return choices_once(kind, lambda: [("", _("Choose one"))] + list(
        settings().labels_in(kind, i18n.current_language()).items()))


def _request_form() -> RequestForm:
    form = RequestForm()
    form.category.choices = labelled("categories")
    form.area.choices = labelled("areas")
    form.urgency.choices = choices_once("urgency", _urgency_choices)
    return form


def receipt(template: str, codename: str) -> str:
    """A receipt page: the same for everyone in a language but for the codename (shells.py)."""
    return shells.page(template, lambda v: render_template(template, codename=v["codename"]), {"codename": codename})


@bp.get("/")
def index() -> str:
    # The same page for everyone in a language but for two tokens: drawn once (shells.py).
    return shells.page(
        "request-form",
        lambda v: render_template("public/index.html", form=blank_form(_request_form(), v)),
        {"csrf": generate_csrf(), "nonce": new_form_nonce()},
    )


@bp.post("/")
def submit() -> tuple[str, int]:
    form = _request_form()
    if not form.validate_on_submit():
        return render_template("public/index.html", form=form), 400
    details = intake.RequestDetails(
        category=form.category.data, area=form.area.data, need=form.need.data,
        contact=form.contact.data or "", urgency=form.urgency.data,
        for_someone_else=bool(form.for_someone_else.data),
    )
    try:
        codename = intake.submit_request(get_store(), settings(), details, form.form_nonce.data)
    except intake.ReplayedForm:
        return render_template(
            "public/message.html", title=_("Already received"),
            message=_("This form was already sent, and we have it. Use the codename you were given "
                      "to check on it. If you did not get one, please fill in the form again."),
        ), 409
    except intake.NotReady:
        return render_template(
            "public/message.html", title=_("Not ready yet"),
            message=_("This service cannot take requests yet. Nothing was kept. Please try again later."),
        ), 503
    return receipt("public/receipt.html", codename), 201


@bp.get("/status")
def status_form() -> str:
    return shells.page(
        "status-form",
        lambda v: render_template("public/status.html", form=blank_form(StatusForm(), v), view=None),
        {"csrf": generate_csrf()},
    )


@bp.post("/status")
def status() -> tuple[str, int]:
    form = StatusForm()
    if not form.validate_on_submit():
        return render_template("public/status.html", form=form, view=None), 400
    # Status, the conversation, and the answer and withdraw forms (web/requester.py).
    return requester.status_page(form.codename.data, status_form=form)
