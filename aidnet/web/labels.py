"""Words for the values aidnet stores as ids: urgencies, statuses, decision types, kinds of offer.

Built per request, in the page's language; kept here once so every page says the same thing.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import gettext as _

from . import i18n
from .connections import settings


def urgency_labels() -> dict[str, str]:
    return {"today": _("Today or tomorrow"), "this_week": _("This week"), "whenever": _("When possible")}


def status_labels() -> dict[str, str]:
    return {"new": _("New"), "in_progress": _("In progress"), "allocated": _("Allocated"),
            "fulfilled": _("Fulfilled"), "closed": _("Closed")}


def decision_labels() -> dict[str, str]:
    return {
        "add_member": _("Add a member"), "remove_member": _("Remove a member"), "rotate_key": _("Rotate a key"),
        "set_quorum": _("Change the quorum"), "renew_member": _("Renew a member's term"),
        "allocation": _("Allocation"), "distribution": _("Handed over"), "dispute": _("Dispute"),
        "resolution": _("Resolution of a dispute"), "genesis": _("Founding of the group"),
        "impact_update": _("Impact update"),
    }


def offer_kinds() -> list[tuple[str, str]]:
    return [("goods", _("Goods (food, clothes, things)")), ("time", _("My time")),
            ("transport", _("Transport")), ("money", _("Money"))]


def place_labels(kind: str) -> dict[str, str]:
    """The group's categories ("categories") or areas ("areas") in this page's language."""
    return settings().labels_in(kind, i18n.current_language())


def install(app: Flask) -> None:
    """|category and |area in templates: a stored id in the reader's language (the id itself if unknown)."""
    app.add_template_filter(lambda code: place_labels("categories").get(code, code), "category")
    app.add_template_filter(lambda code: place_labels("areas").get(code, code), "area")
