"""Plain message pages: one title, one sentence, the right status. The answers to a refusal live here once."""

from __future__ import annotations

from flask import render_template
from flask_babel import gettext as _

from ..decisions.effects import NotEnoughMoney
from ..errors import NotReady, ReplayedForm
from .labels import money, place_labels

# What a public form sent: a request, an offer, or an answer in a conversation.
WHAT = ("request", "offer", "answer")


def message(title: str, text: str, code: int = 200) -> tuple[str, int]:
    return render_template("public/message.html", title=title, message=text), code


def already_received(what: str) -> tuple[str, int]:
    """A form sent twice (ReplayedForm): 409, and what to do next."""
    texts = {
        "request": _("This form was already sent, and we have it. Use the codename you were given "
                     "to check on it. If you did not get one, please fill in the form again."),
        "offer": _("This form was already sent, and we have it."),
        "answer": _("This answer was already sent, and we have it. Check your request again with your "
                    "codename to see it."),
    }
    return message(_("Already received"), texts[what], 409)


def not_ready(what: str) -> tuple[str, int]:
    """Nobody to seal to yet (NotReady): 503, nothing kept."""
    texts = {
        "request": _("This service cannot take requests yet. Nothing was kept. Please try again later."),
        "offer": _("This service cannot take offers yet. Nothing was kept. Please try again later."),
        "answer": _("This service cannot take messages right now. Nothing was kept. Please try again later."),
    }
    return message(_("Not ready yet"), texts[what], 503)


def refused(exc: ReplayedForm | NotReady, what: str) -> tuple[str, int]:
    """The page for a public form's refusal: sent twice (409), or nobody to seal to yet (503)."""
    return already_received(what) if isinstance(exc, ReplayedForm) else not_ready(what)


def not_enough_money(exc: NotEnoughMoney) -> str:
    """A money allocation beyond what its request's kind of help holds: which one, and how much it has."""
    category = place_labels("categories").get(exc.category, exc.category)
    return str(_("There is not enough money for %(category)s: %(available)s is recorded as received for it and not "
                 "yet allocated. Record the money received first.", category=category, available=money(exc.available)))


def site_path(path: str, under: str = "/") -> bool:
    """Whether path is a path of this site under `under`, safe to send a browser to: never another host
    ("//host", "/\\host", which browsers read as one), never a URL with a scheme."""
    return path.startswith(under) and not path.startswith("//") and "\\" not in path and len(path) <= 200
