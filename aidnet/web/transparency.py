"""The public transparency page: the latest signed release as HTML tables and CSS bars, its files, the same
figures as plain text, a data dictionary, and the public record of the decision log.

Every figure of a release comes from a stored, signed release (never from counters live, never from
requests); the CSV, JSON and signature downloads are the exact signed bytes, and the plain text is drawn
from the signed JSON (same numbers, same margins) in the language of the page it is fetched from. The
public record comes from the verified decision log (aidnet.decisions.public_record).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import gettext as _

from .. import dates
from ..decisions.public_record import PublicRecord, public_record
from ..exports import files, periods
from ..exports.suppression import ALL
from ..sealing.readers import NoGenesis, current
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
    rough: int | None = None  # the page leaves out breakdowns this rough (± m); the files have them


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


# A breakdown whose margin is wider than this is left off the page (the files still carry it): "about 0,
# ± 295" six times says nothing a reader can use and would take a third of the page. Margins are fixed by
# the settings, never by the data, so what is drawn says nothing about the numbers.
DRAWN_MARGIN_MAX = 60


def _table(table: dict[str, Any], data: dict[str, Any], drawn_max: int | None = None) -> TableView:
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
        too_rough = [m for level, m in margins.items() if level != "total" and drawn_max is not None and m > drawn_max]
        if drawn_max is not None:
            has_rows = has_rows and margins["rows"] <= drawn_max
            has_cols = has_cols and margins["cols"] <= drawn_max
        return TableView(
            name=table["name"], title=title, rows=[], cols=[], col_totals=[],
            total=values.get((ALL, ALL)),
            bars=_bars([cat.get(r, r) for r in rows], [values.get((r, ALL)) for r in rows], margins["rows"])
            if has_rows and len(rows) > 1 else [],
            margins=margins,
            area_bars=_bars([areas.get(c, c) for c in cols], [values.get((ALL, c)) for c in cols], margins["cols"])
            if has_cols and len(cols) > 1 else [],
            rough=min(too_rough) if too_rough else None,
        )
    return TableView(
        name=table["name"], title=title,
        rows=[(cat.get(r, r), [get(r, c) for c in cols], get(r, ALL)) for r in rows],
        cols=[areas.get(c, c) for c in cols] if not single else [],
        col_totals=[get(ALL, c) for c in cols] if not single else [],
        total=get(ALL, ALL), bars=_bars([cat.get(r, r) for r in rows], [get(r, ALL) for r in rows], None),
        margins={}, area_bars=[],
    )


def _record() -> PublicRecord | None:
    """The public record of the decision log (None before the group is founded)."""
    store = get_store()
    try:
        state = current(store)
    except NoGenesis:
        return None
    return public_record(store, state, settings().policy.k, dates.today())


# The page shows the newest impact update, cut to this many characters (it stays small); all are whole on
# /transparency/updates.
EXCERPT = 160


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
    record = _record()
    if row is None:
        return render_template("transparency/index.html", release=None, releases=[], record=record,
                               excerpt=EXCERPT, record_k=settings().policy.k)
    data = json.loads(row.manifest)
    key, _sig = files.parse_signature(row.signature)
    names = files.file_names(row.period)
    return render_template(
        "transparency/index.html", release=row, data=data, public_key=key.hex(),
        tables=[_table(t, data, DRAWN_MARGIN_MAX) for t in data["tables"]], files=names, text_file=text_name(row.period),
        releases=[(r.period, r.kind) for r in rows], record=record, excerpt=EXCERPT,
        record_k=settings().policy.k,
    )


@bp.get("/updates")
def updates() -> str:
    """Every impact update a quorum signed, newest first."""
    return render_template("transparency/updates.html", record=_record())


@bp.get("/dictionary")
def dictionary() -> str:
    """What every column of the CSV, JSON and text files means, margins, withheld marks and the privacy unit."""
    return render_template("transparency/dictionary.html", withheld=files.WITHHELD, k=settings().policy.k)


def text_name(period: str) -> str:
    return f"aidnet-{period}.txt"


def _figure(value: int | None, margin: int | None = None) -> str:
    """A figure as the page shows it, in words: withheld, "about v, ± m", or exact."""
    if value is None:
        return str(_("withheld"))
    if margin is not None:
        return str(_("about %(value)s, ± %(margin)s", value=value, margin=margin))
    return str(value)


def _text(row: ReleaseRow) -> str:
    """The release's figures as plain text in this page's language: the signed JSON's numbers and margins."""
    data = json.loads(row.manifest)
    json_name = files.file_names(row.period)[0]
    lines = [str(_("What we were asked for, and what we gave")) + f": {row.period}", "",
             str(_("The same numbers as the signed file %(name)s; check that file's signature "
                   "(aidnet export verify) before you rely on them.", name=json_name))]
    if data.get("noise_scale"):
        lines.append(str(_("Every number has random noise added. \"about 50, ± 9\": nine times in ten, the true "
                           "number is within 9 of 50. Privacy cost of this release: ε = %(eps)s.",
                           eps=data["epsilon"])))
    else:
        lines.append(str(_("No noise added. \"withheld\": between 1 and %(k)s, or it would let such a small "
                           "number be worked out.", k=data["threshold_k"] - 1)))
    for t in (_table(t, data) for t in data["tables"]):
        lines += ["", f"== {t.title} ==", str(_("Total:")) + " " + _figure(t.total, t.margins.get("total"))]
        if t.bars:
            lines += [str(_("By kind of help:"))] + [f"  {b.label}: {_figure(b.value, b.margin)}" for b in t.bars]
        if t.area_bars:
            lines += [str(_("By area:"))] + [f"  {b.label}: {_figure(b.value, b.margin)}" for b in t.area_bars]
        if t.cols:
            lines.append(str(_("By kind of help and area:")))
            for label, cells, total in t.rows:
                lines += [f"  {label}, {col}: {_figure(v)}" for col, v in zip(t.cols, cells, strict=True)]
                lines.append(f"  {label}, {_('All areas')}: {_figure(total)}")
            lines += [f"  {_('All kinds')}, {col}: {_figure(v)}" for col, v in zip(t.cols, t.col_totals, strict=True)]
    return "\n".join(lines) + "\n"


_FILE_TYPES = {".json.sig": "text/plain; charset=utf-8", ".json": "application/json; charset=utf-8",
               ".csv": "text/csv; charset=utf-8", ".txt": "text/plain; charset=utf-8"}


@bp.get("/files/<name>")
def download(name: str) -> Response:
    """The exact signed bytes of a release's CSV, JSON or signature; or its figures as plain text."""
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
    body = _text(row) if suffix == ".txt" else {".json.sig": row.signature, ".json": row.manifest, ".csv": row.csv}[suffix]
    response = Response(body, content_type=_FILE_TYPES[suffix])
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
