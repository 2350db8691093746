"""Signed anonymized releases of totals, built from aggregate counters only.

A release covers one closed period (a week, or a month of whole weeks). Its
key set is fixed by the instance config and the constant table list below,
never by the data: every category and area appears, zeros included. Each
number gets integer discrete-Laplace noise drawn once, then small values and
anything that would reveal them are withheld (aidnet.suppression). The result
is stored, so exporting the same period again returns the same bytes, and
the privacy budget it spent is written to a ledger in the same transaction.

Privacy unit: one request (offers: one offer; money: one movement of at most
`money_clip` minor units). Other modules feed the tables by bumping counter
events named in REQUEST_EVENTS / OFFER_EVENTS (aidnet.store.counters.bump)
and money with aidnet.store.counters.bump_money.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ..config import Settings
from ..errors import Refused
from ..store import Store, counters
from ..store import releases as release_rows
from ..store.releases import ReleaseRow
from . import files, noise, periods, suppression
from .suppression import ALL, Earlier, Item, Shape

# Counter events published, each as one category × area table. One request adds
# at most one to each of these in a release, so together they have sensitivity 5.
REQUEST_EVENTS = ("received", "allocated", "fulfilled", "withdrawn", "distributed")
OFFER_EVENTS = ("offered",)
MONEY_TABLES = ("money_in_count", "money_in_amount", "money_out_count", "money_out_amount")
TABLES = REQUEST_EVENTS + OFFER_EVENTS + MONEY_TABLES
MONEY_COLUMN = "all"
# A withdrawn request is erased unread, so its category and area are never known:
# conversation.withdraw counts it under this key, and it is published as one total.
UNKNOWN = "unknown"


class ExportError(Refused):
    """A one-line reason an export cannot be made."""


@dataclass(frozen=True)
class Scales:
    request: Fraction
    offer: Fraction
    money_count: Fraction
    money_amount: Fraction

    def of(self, table: str) -> Fraction:
        if table in REQUEST_EVENTS:
            return self.request
        if table in OFFER_EVENTS:
            return self.offer
        return self.money_amount if table.endswith("_amount") else self.money_count


def scales(settings: Settings) -> Scales:
    eps = settings.policy.epsilon
    # Money: half the budget to how many movements, half to how much.
    return Scales(request=noise.scale_for(eps, len(REQUEST_EVENTS)), offer=noise.scale_for(eps, len(OFFER_EVENTS)),
                  money_count=noise.scale_for(eps / 2, 1), money_amount=noise.scale_for(eps / 2, settings.policy.money_clip))


def _shape(settings: Settings, table: str, weeks: tuple[str, ...]) -> Shape:
    if table == "withdrawn":
        return Shape((UNKNOWN,), (UNKNOWN,), weeks)
    cols = (MONEY_COLUMN,) if table.startswith("money_") else tuple(settings.areas)
    return Shape(tuple(settings.categories), cols, weeks)


def _true_cells(store: Store, settings: Settings, weeks: tuple[str, ...]) -> dict[str, dict[Item, int]]:
    """Every table's cells from the aggregates alone, every key present, unknown keys ignored."""
    cells = {t: {item: 0 for item in _shape(settings, t, weeks).items() if ALL not in item} for t in TABLES}
    for _week, category, area, event, count in counters.counters_for(store, weeks):
        if event in cells and (category, area) in cells[event]:
            cells[event][(category, area)] += count
    for _week, category, direction, amount, count in counters.money_for(store, weeks):
        if (category, MONEY_COLUMN) in cells[f"money_{direction}_count"]:
            cells[f"money_{direction}_count"][(category, MONEY_COLUMN)] += count
            cells[f"money_{direction}_amount"][(category, MONEY_COLUMN)] += amount
    return cells


def _earlier(store: Store, weeks: tuple[str, ...]) -> tuple[dict[str, list[Earlier]], tuple[str, ...]]:
    """What earlier releases showed and withheld, per table: every release linked to these weeks.

    Linked means sharing a week, directly or through another release (a month
    links the weeks in it to each other), so chains like month - week 2 = week 1
    are seen.
    """
    found: dict[str, list[Earlier]] = {t: [] for t in TABLES}
    manifests = [json.loads(row.manifest) for row in release_rows.releases(store)]
    linked, covered = [], set(weeks)
    while True:
        more = [m for m in manifests if m not in linked and set(m["weeks"]) & covered]
        if not more:
            break
        linked += more
        covered |= {w for m in more for w in m["weeks"]}
    for data in linked:
        for table in data["tables"]:
            if table["name"] not in found:
                continue
            shape = Shape(tuple(table["rows"]), tuple(table["cols"]), tuple(data["weeks"]))
            shown = tuple(shape.functional((r, c)) for r, c, v in table["values"] if v is not None)
            withheld = tuple(shape.functional((r, c)) for r, c, v in table["values"] if v is None)
            found[table["name"]].append(Earlier(shown, withheld))
    return found, tuple(sorted(covered))


def _small_weeks(store: Store, settings: Settings, covered: tuple[str, ...]) -> dict[str, list[suppression.Functional]]:
    """Per table, the week-level true counts from 1 to k-1 in the linked weeks, to keep underivable.

    Used only without noise: with noise, releases are noised independently, so a
    difference between two of them is itself noisy and the budget accounts for it.
    """
    k = settings.policy.k
    found: dict[str, list[suppression.Functional]] = {t: [] for t in TABLES}
    for week in covered:
        cells = _true_cells(store, settings, (week,))
        for table in TABLES:
            shape = _shape(settings, table, (week,))
            values = suppression.with_totals(shape, cells[table])
            found[table] += [shape.functional(i) for i, v in values.items() if 0 < v < k]
    return found


def _noisy(cells: dict[Item, int], scale: Fraction | None) -> dict[Item, int]:
    if scale is None:
        return dict(cells)
    return {item: max(0, value + noise.discrete_laplace(scale)) for item, value in sorted(cells.items())}


def _tables(settings: Settings, cells: dict[str, dict[Item, int]], weeks: tuple[str, ...],
            earlier: dict[str, list[Earlier]], protect: dict[str, list[suppression.Functional]]) -> Iterator[dict[str, Any]]:
    k = settings.policy.k
    s = scales(settings) if settings.policy.noise else None
    hidden_money: dict[str, set[Item]] = {}
    for table in TABLES:
        shape = _shape(settings, table, weeks)
        values = suppression.with_totals(shape, _noisy(cells[table], s.of(table) if s else None))
        if table.endswith("_amount"):
            # An amount is shown exactly when its count of movements is.
            hidden = hidden_money[table.replace("_amount", "_count")]
        else:
            hidden = suppression.plan(shape, values, k, earlier[table], protect.get(table, ()))
            hidden_money[table] = hidden
        yield {"name": table, "rows": list(shape.rows), "cols": list(shape.cols),
               "values": [[r, c, None if (r, c) in hidden else values[(r, c)]] for r, c in shape.items()]}


def _cumulative(store: Store, weeks: tuple[str, ...]) -> dict[str, Fraction]:
    total = {w: Fraction(0) for w in weeks}
    for week, _period, eps in release_rows.spent(store, weeks):
        total[week] += Fraction(eps)
    return total


def _manifest(settings: Settings, period: str, kind: str, weeks: tuple[str, ...], tables: list[dict[str, Any]],
              cumulative: dict[str, Fraction]) -> dict[str, Any]:
    p = settings.policy
    s = scales(settings)
    manifest: dict[str, Any] = {
        "schema": files.SCHEMA,
        "period": period,
        "period_kind": kind,
        "weeks": list(weeks),
        "mechanism": "discrete-laplace (exact integer sampler, CSPRNG)" if p.noise else "none (suppression only)",
        "epsilon": str(p.epsilon) if p.noise else "0",
        "cumulative_epsilon": {w: str(e) for w, e in cumulative.items()},
        "week_budget": str(p.week_budget),
        "privacy_unit": "one request; offers: one offer; money: one movement, amounts in minor units",
        "noise_scale": {"requests": str(s.request), "offers": str(s.offer), "money_count": str(s.money_count),
                        "money_amount": str(s.money_amount)} if p.noise else {},
        "threshold_k": p.k,
        "rounding": "integer noise; negative results shown as 0; totals are sums of the noisy cells",
        "suppression": f"values from 1 to {p.k - 1}, and values that would let one be worked out, are '{files.WITHHELD}'",
        "categories": dict(settings.categories),
        "areas": dict(settings.areas),
        "tables": tables,
    }
    return manifest


Progress = Callable[[int, int], None]  # (tables done, tables in all)


def make_release(store: Store, settings: Settings, period: str, today: dt.date,
                 progress: Progress | None = None) -> tuple[ReleaseRow, bool]:
    """The signed release for a closed period: (row, True) if made now, (row, False) if stored before."""
    try:
        kind, weeks = periods.weeks_of(period)
    except periods.PeriodError as exc:
        raise ExportError(str(exc)) from None
    if not periods.is_closed(period, today):
        raise ExportError(f"{period} has not ended yet; only closed periods are released")
    existing = release_rows.release(store, period)
    if existing is not None:
        return existing, False
    key = files.load_or_create_key(settings.instance)
    eps = settings.policy.epsilon if settings.policy.noise else Fraction(0)
    with store.write() as tx:
        existing = release_rows.release(store, period)
        if existing is not None:
            return existing, False
        cumulative = _cumulative(store, weeks)
        for week in weeks:
            if cumulative[week] + eps > settings.policy.week_budget:
                raise ExportError(f"releasing {period} would spend past the privacy budget of {week} "
                                  f"({cumulative[week]} of {settings.policy.week_budget} spent)")
        cells = _true_cells(store, settings, weeks)
        earlier, covered = _earlier(store, weeks)
        protect = {} if settings.policy.noise else _small_weeks(store, settings, covered)
        tables = []
        for table in _tables(settings, cells, weeks, earlier, protect):  # suppression is the slow part, table by table
            tables.append(table)
            if progress is not None:
                progress(len(tables), len(TABLES))
        manifest = _manifest(settings, period, kind, weeks, tables, {w: cumulative[w] + eps for w in weeks})
        csv_bytes = files.render_csv(manifest)
        manifest["csv_sha256"] = hashlib.sha256(csv_bytes).hexdigest()
        manifest_bytes = files.canonical_json(manifest)
        row = ReleaseRow(period=period, kind=kind, last_week=weeks[-1], manifest=manifest_bytes, csv=csv_bytes,
                         signature=files.sign(key, manifest_bytes))
        release_rows.save_release(tx, row, [(w, str(eps)) for w in weeks] if eps else [])
    return row, True
