"""Words for the values aidnet stores as ids: urgencies, statuses, decision types, kinds of offer.

Built per request, in the page's language; kept here once so every page says the same thing.
"""

from __future__ import annotations

from flask_babel import gettext as _


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
    }


def offer_kinds() -> list[tuple[str, str]]:
    return [("goods", _("Goods (food, clothes, things)")), ("time", _("My time")),
            ("transport", _("Transport")), ("money", _("Money"))]
