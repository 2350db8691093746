"""The public transparency page: the latest signed release as HTML tables and CSS bars, and its files.

Everything shown comes from a stored, signed release (never from counters
live, never from requests); the downloads are the exact signed bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import gettext as _

from ..exports import files, periods
from ..exports.suppression import ALL
from ..store import releases as release_rows
from ..store.releases import ReleaseRow
from . import i18n
from .connections import get_store, settings

bp = Blueprint("transparency", __name__, url_prefix="/transparency")
BAR_STEPS = 20  # bar widths in 5% steps: CSS classes .w0 … .w20, no inline style


@dataclass(frozen=True)
class Bar:
    label: str
    value: int | None
    width: int  # 0..BAR_STEPS
    margin: int | None = None  # "± m" for a noisy figure


def _bars(labels: list[str], values: list[int | None], margin: int | None) -> list[Bar]:
    top = max([v for v in values if v is not None] + [1])
    return [Bar(label, v, 0 if v is None else (v * BAR_STEPS + top // 2) // top, margin)
            for label, v in zip(labels, values, strict=True)]


@dataclass(frozen=True)
class TableView:
    name: str
    title: str
    rows: list[tuple[str, list[int | None], int | None]]  # label, cells, row total
    cols: list[str]
    col_totals: list[int | None]
    total: int | None
    bars: list[Bar]
    margins: dict[str, int]  # noisy releases: "total", "rows", "cols" -> ± m; then only totals are published
    area_bars: list[Bar]


def _titles() -> dict[str, str]:
    return {
        "received": _("Requests received"),
        "allocated": _("Requests given an allocation"),
        "fulfilled": _("Requests fulfilled"),
        "withdrawn": _("Requests withdrawn"),
        "distributed": _("Distributions"),
        "offered": _("Offers of help"),
        "money_in_count": _("Money received: number of gifts"),
        "money_in_amount": _("Money received: amount (in cents)"),
        "money_out_count": _("Money paid out: number of payments"),
        "money_out_amount": _("Money paid out: amount (in cents)"),
    }


def _table(table: dict[str, Any], data: dict[str, Any]) -> TableView:
    values = {(r, c): v for r, c, v in table["values"]}
    rows, cols = table["rows"], table["cols"]
    single = len(cols) == 1
    # Labels in the reader's language where the instance has them; else as released.
    language = i18n.current_language()
    cat = {**data["categories"], **settings().labels_in("categories", language)}
    areas = {**data["areas"], **settings().labels_in("areas", language)}
    cat["unknown"] = _("Not known: withdrawn requests are erased unread")

    def get(r: str, c: str) -> int | None:
        if single and c == ALL:
            c = cols[0]
        if len(rows) == 1 and r == ALL:
            r = rows[0]
        return values.get((r, c))

    margins: dict[str, int] = {k: int(v) for k, v in table.get("margin", {}).items()}
    title = _titles().get(table["name"], table["name"])
    if margins:  # noisy: only the totals were drawn, each with its own margin
        has_rows, has_cols = "rows" in margins, "cols" in margins
        return TableView(
            name=table["name"], title=title, rows=[], cols=[], col_totals=[],
            total=values.get((ALL, ALL)),
            bars=_bars([cat.get(r, r) for r in rows], [values.get((r, ALL)) for r in rows], margins["rows"])
            if has_rows and len(rows) > 1 else [],
            margins=margins,
            area_bars=_bars([areas.get(c, c) for c in cols], [values.get((ALL, c)) for c in cols], margins["cols"])
            if has_cols and len(cols) > 1 else [],
        )
    return TableView(
        name=table["name"], title=title,
        rows=[(cat.get(r, r), [get(r, c) for c in cols], get(r, ALL)) for r in rows],
        cols=[areas.get(c, c) for c in cols] if not single else [],
        col_totals=[get(ALL, c) for c in cols] if not single else [],
        total=get(ALL, ALL), bars=_bars([cat.get(r, r) for r in rows], [get(r, ALL) for r in rows], None),
        margins={}, area_bars=[],
    )


@dataclass(frozen=True)
class MoneyRow:
    label: str
    budget: int | None
    received: int | None
    received_why: str | None  # why withheld: "too_few" or "dominance"
    spent: int | None
    spent_why: str | None


def _money(data: dict[str, Any]) -> list[MoneyRow]:
    """A month's exact money by category (releases.money_month), in the reader's language; the total last."""
    money = data.get("money")
    if not money:
        return []
    cat = {**data["categories"], **settings().labels_in("categories", i18n.current_language())}
    cat["unknown"] = _("Not known")
    rows = [MoneyRow(cat.get(c, c), budget, received, why_in, spent, why_out)
            for c, budget, received, why_in, spent, why_out in money["rows"]
            if budget is not None or received or spent or why_in or why_out]
    t = money["total"]
    return rows + [MoneyRow(_("All kinds"), t["budget"], t["received"], t["received_withheld"], t["spent"],
                            t["spent_withheld"])]


def _chosen(rows: list[ReleaseRow]) -> ReleaseRow | None:
    wanted = request.args.get("period")
    if not wanted:
        return rows[0] if rows else None
    for row in rows:
        if row.period == wanted:
            return row
    abort(404)


@bp.get("/")
def index() -> str:
    rows = release_rows.releases(get_store())
    row = _chosen(rows)
    if row is None:
        return render_template("transparency/index.html", release=None, releases=[])
    data = json.loads(row.manifest)
    key, _sig = files.parse_signature(row.signature)
    names = files.file_names(row.period)
    return render_template(
        "transparency/index.html", release=row, data=data, public_key=key.hex(),
        tables=[_table(t, data) for t in data["tables"]], files=names, money=_money(data),
        releases=[(r.period, r.kind) for r in rows],
    )


_FILE_TYPES = {".json.sig": "text/plain; charset=utf-8", ".json": "application/json; charset=utf-8",
               ".csv": "text/csv; charset=utf-8"}


@bp.get("/files/<name>")
def download(name: str) -> Response:
    """The exact signed bytes of a release's CSV, JSON or signature."""
    suffix = next((x for x in _FILE_TYPES if name.endswith(x)), None)
    if suffix is None or not name.startswith("aidnet-"):
        abort(404)
    period = name[len("aidnet-"): -len(suffix)]
    try:
        periods.weeks_of(period)
    except periods.PeriodError:
        abort(404)
    row = release_rows.release(get_store(), period)
    if row is None:
        abort(404)
    body = {".json.sig": row.signature, ".json": row.manifest, ".csv": row.csv}[suffix]
    response = Response(body, content_type=_FILE_TYPES[suffix])
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
