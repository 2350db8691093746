"""Signed anonymized releases of totals, built from aggregate counters only.

A release covers one closed period (a week, or a month of whole weeks). Its
key set is fixed by the instance config and the constant table list below,
never by the data: every category and area appears, zeros included. Each
number gets integer discrete-Laplace noise drawn once, then small values and
anything that would reveal them are withheld (aidnet.suppression). The result
is stored, so exporting the same period again returns the same bytes, and
the privacy budget it spent is written to a ledger in the same transaction.

With noise on, the cross-table of cells is not published: each table's grand
total, category totals and area totals are each their own noisy draw (never
a sum of clipped cells), with a share of the release's ε fixed in SPLIT.
Noise is derived from the release secret (see release_secret) and the
period, table and figure, so a period can only ever be drawn as the same
numbers, even after a restore. Without noise, every cell is published and
small ones are withheld (aidnet.suppression).

Privacy unit: one request (offers: one offer, their own unit). A request
moves each request event's counter by at most one (count-once guard), is
counted in money paid out at most once, and gives at most one verdict (one
answer to each of its two questions, records.verdicts), so in one release it
costs at most Σ SPLIT = ε. Each week's releases together spend at most week_budget, and
every event of a request falls in one week, so over its whole life, across
every table and release, a request costs at most week_budget.
Other modules feed the tables by bumping counter
events named in REQUEST_EVENTS / OFFER_EVENTS (aidnet.store.counters.bump)
and money with aidnet.store.counters.bump_money.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import math
import os
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any

from crypto.log import LogState

from ..config import Settings
from ..errors import Refused
from ..records.verdicts import ANSWERS, VERDICT_EVENTS
from ..records.verdicts import COLUMN as VERDICT_COLUMN
from ..sealing.readers import NoGenesis, current
from ..store import Store, counters
from ..store import releases as release_rows
from ..store.releases import ReleaseRow
from . import files, noise, periods, suppression
from .suppression import ALL, Earlier, Item, Shape

# Counter events published, each as one category × area table. One request adds
# at most one to each of these in a release (spam: +1 there, -1 in received).
# "received" is published without the requests coordinators marked as spam (counted
# in the week each came in): those are their own table, so the totals stay honest
# both ways (a flood does not swell what was asked for, and what was removed shows).
REQUEST_EVENTS = ("received", "allocated", "fulfilled", "withdrawn", "distributed", "spam")
OFFER_EVENTS = ("offered",)
MONEY_TABLES = ("money_in_count", "money_in_amount", "money_out_count", "money_out_amount")
# The requesters' verdict: one table per question, a row per answer (yes, partly, no), over all areas.
VERDICT_TABLES = tuple(VERDICT_EVENTS.values())
TABLES = REQUEST_EVENTS + OFFER_EVENTS + MONEY_TABLES + VERDICT_TABLES
MONEY_COLUMN = "all"
# A withdrawn request is erased unread, so its category and area are never known:
# conversation.withdraw counts it under this key, and it is published as one total.
UNKNOWN = "unknown"


# Shares of a release's ε for the unit "one request" (they add up to 1), per table and level:
# "total" is the grand total, "rows" every category total, "cols" every area total. One request
# moves one figure of each level of a table by one (money amounts: by at most money_clip).
# The headline, requests received, gets most: its monthly total is within ±10 nine times in ten.
SPLIT: dict[str, dict[str, Fraction]] = {
    "received": {"total": Fraction(1, 2), "rows": Fraction(3, 32), "cols": Fraction(3, 32)},
    "allocated": {"total": Fraction(1, 32), "rows": Fraction(1, 64), "cols": Fraction(1, 64)},
    "fulfilled": {"total": Fraction(1, 32), "rows": Fraction(1, 64), "cols": Fraction(1, 64)},
    "distributed": {"total": Fraction(1, 32)},
    "withdrawn": {"total": Fraction(1, 32)},
    "spam": {"total": Fraction(1, 64)},
    "money_out_count": {"total": Fraction(1, 64), "rows": Fraction(1, 128)},
    "money_out_amount": {"total": Fraction(1, 64), "rows": Fraction(1, 128)},
    # One verdict moves one answer of each question by one: only the answers are drawn (no total).
    "verdict_received": {"rows": Fraction(1, 32)},
    "verdict_needed": {"rows": Fraction(1, 32)},
}
# Offers and money received are other units (one offer; one gift), each with the whole ε.
OFFER_SPLIT = {"offered": {"total": Fraction(1, 2), "rows": Fraction(1, 4), "cols": Fraction(1, 4)},
               "money_in_count": {"total": Fraction(1, 4), "rows": Fraction(1, 4)},
               "money_in_amount": {"total": Fraction(1, 4), "rows": Fraction(1, 4)}}
MARGIN_LEVEL = Fraction(9, 10)  # the page's "± m": the noise stays within m nine times in ten


def level_scales(settings: Settings, table: str) -> dict[str, Fraction]:
    """Noise scale of each published level of a table: sensitivity / (share × ε)."""
    eps = settings.policy.epsilon
    shares = SPLIT.get(table) or OFFER_SPLIT[table]
    sensitivity = settings.policy.money_clip if table.endswith("_amount") else 1
    return {level: noise.scale_for(eps * share, sensitivity) for level, share in shares.items()}


def margin(scale: Fraction, level: Fraction = MARGIN_LEVEL) -> int:
    """The smallest m with P(|X| <= m) >= level for discrete-Laplace noise of this scale."""
    p = math.exp(-1 / float(scale))
    # P(|X| > m) = 2 p^(m+1) / (1 + p)
    tail = float(1 - level) * (1 + p) / 2
    return max(0, math.ceil(math.log(tail) / math.log(p) - 1 - 1e-9))


def release_secret(settings: Settings) -> bytes:
    """The secret the noise is drawn from: derived from the export signing key, so it lives where that
    key lives (the instance folder, never the database) and a restore brings back the same numbers."""
    key = files.load_or_create_key(settings.instance)
    return hmac.new(bytes(key), b"aidnet release noise v1", hashlib.sha256).digest()


class ExportError(Refused):
    """A one-line reason an export cannot be made."""


# Beside the export key, outside the database and its backups: every period ever published and its
# manifest's SHA-256. A restored database cannot publish other numbers for a period already published.
PUBLISHED_FILE = "published.sha256"


def _published(settings: Settings) -> dict[str, str]:
    path = settings.instance / PUBLISHED_FILE
    if not path.exists():
        return {}
    pairs = (line.split(" ", 1) for line in path.read_text(encoding="ascii").splitlines() if " " in line)
    return {period: digest for period, digest in pairs}


def _remember_published(settings: Settings, period: str, digest: str) -> None:
    path = settings.instance / PUBLISHED_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="ascii") as out:
        out.write(f"{period} {digest}\n")
        out.flush()
        os.fsync(out.fileno())


def _shape(settings: Settings, table: str, weeks: tuple[str, ...]) -> Shape:
    if table == "withdrawn":
        return Shape((UNKNOWN,), (UNKNOWN,), weeks)
    if table in VERDICT_TABLES:
        return Shape(ANSWERS, (VERDICT_COLUMN,), weeks)
    cols = (MONEY_COLUMN,) if table.startswith("money_") else tuple(settings.areas)
    return Shape(tuple(settings.categories), cols, weeks)


def _true_cells(store: Store, settings: Settings, weeks: tuple[str, ...]) -> dict[str, dict[Item, int]]:
    """Every table's cells from the aggregates alone, every key present, unknown keys ignored."""
    cells = {t: {item: 0 for item in _shape(settings, t, weeks).items() if ALL not in item} for t in TABLES}
    for _week, category, area, event, count in counters.counters_for(store, weeks):
        if event in cells and (category, area) in cells[event]:
            cells[event][(category, area)] += count
    for item, spam in cells["spam"].items():  # a request marked as spam was not one asked for
        cells["received"][item] = max(0, cells["received"][item] - spam)
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


def _margins_table(settings: Settings, secret: bytes, period: str, table: str, shape: Shape,
                   cells: dict[Item, int]) -> dict[str, Any]:
    """Grand total, category totals and area totals (those the table's SPLIT names), each its own draw; no cells
    (the noise would swamp them)."""
    scales_ = level_scales(settings, table)
    items: list[tuple[str, Item]] = [("total", (ALL, ALL))] if "total" in scales_ else []
    if "rows" in scales_:
        items += [("rows", (r, ALL)) for r in shape.rows]
    if "cols" in scales_:
        items += [("cols", (ALL, c)) for c in shape.cols]
    values = []
    for level, (r, c) in items:
        stream = noise.Stream(secret, f"{period}|{table}|{r}|{c}")
        true = sum(v for (x, y), v in cells.items() if r in (ALL, x) and c in (ALL, y))
        values.append([r, c, max(0, true + noise.discrete_laplace(scales_[level], stream.randbelow))])
    return {"name": table, "rows": list(shape.rows), "cols": list(shape.cols), "values": values,
            "noise_scale": {level: str(x) for level, x in scales_.items()},
            "margin": {level: margin(x) for level, x in scales_.items()}}


def _tables(settings: Settings, cells: dict[str, dict[Item, int]], weeks: tuple[str, ...],
            earlier: dict[str, list[Earlier]], protect: dict[str, list[suppression.Functional]],
            secret: bytes | None = None, period: str = "") -> Iterator[dict[str, Any]]:
    if secret is not None:
        for table in TABLES:
            yield _margins_table(settings, secret, period, table, _shape(settings, table, weeks), cells[table])
        return
    k = settings.policy.k
    hidden_money: dict[str, set[Item]] = {}
    for table in TABLES:
        shape = _shape(settings, table, weeks)
        values = suppression.with_totals(shape, dict(cells[table]))
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
    manifest: dict[str, Any] = {
        "schema": files.SCHEMA,
        "period": period,
        "period_kind": kind,
        "weeks": list(weeks),
        "mechanism": "discrete-laplace (exact integer sampler, CSPRNG)" if p.noise else "none (suppression only)",
        "epsilon": str(p.epsilon) if p.noise else "0",
        "cumulative_epsilon": {w: str(e) for w, e in cumulative.items()},
        "week_budget": str(p.week_budget),
        "privacy_unit": "one request (all its events, money paid out and its verdict, counted once); offers: one offer; "
                        "money received: one gift; amounts in minor units, at most money_clip each",
        "noise_scale": {t: {lv: str(x) for lv, x in level_scales(settings, t).items()} for t in TABLES} if p.noise else {},
        "budget_split": {t: {lv: str(x) for lv, x in shares.items()} for t, shares in {**SPLIT, **OFFER_SPLIT}.items()}
        if p.noise else {},
        "lifetime_epsilon": str(p.week_budget) if p.noise else "0",
        "margin_level": str(MARGIN_LEVEL) if p.noise else "",
        "threshold_k": p.k,
        "rounding": ("integer noise; each total is its own draw, never a sum of cells; negative results shown as 0"
                     if p.noise else "exact counts; totals are sums of the cells"),
        "suppression": ("none: cells are not published, and every published total carries noise" if p.noise else
                        f"values from 1 to {p.k - 1}, and values that would let one be worked out, are '{files.WITHHELD}'"),
        "categories": dict(settings.categories),
        "areas": dict(settings.areas),
        "tables": tables,
    }
    return manifest


MONEY_COLUMNS = ("budget", "received", "spent")


def money_month(store: Store, settings: Settings, weeks: tuple[str, ...]) -> dict[str, Any]:
    """A month's money by category, exact in whole units, under the magnitude-table rules.

    The budget is the group's signed decision (public, always shown). Received (one contributor per final
    receipt) and spent (one contributor per request, all its payouts added) are shown exactly where they
    pass suppression.magnitude_withheld, else withheld with the reason; the total likewise, and never when it
    would give a withheld cell away (suppression.magnitude_column)."""
    p = settings.policy
    try:
        state = current(store)
    except NoGenesis:  # a group not founded yet has neither receipts nor budgets
        state = LogState()
    found = counters.contributions(store, weeks, state.money_in)
    budgets = state.budgets
    cats = list(settings.categories) + sorted({c for c, _d in found} - set(settings.categories))
    rows: list[list[Any]] = []
    reasons: dict[str, dict[str, str | None]] = {}
    totals: dict[str, Any] = {"budget": sum(budgets.get(c, 0) for c in cats)}
    for direction, column in (("in", "received"), ("out", "spent")):
        cells = {c: found.get((c, direction), []) for c in cats}
        reasons[column], why_total = suppression.magnitude_column(cells, p.min_contributors, p.dominance_p)
        totals[column] = None if why_total else sum(sum(v) for v in cells.values())
        totals[f"{column}_withheld"] = why_total
    for c in cats:
        received = None if reasons["received"][c] else sum(found.get((c, "in"), []))
        spent = None if reasons["spent"][c] else sum(found.get((c, "out"), []))
        rows.append([c, budgets.get(c), received, reasons["received"][c], spent, reasons["spent"][c]])
    return {"currency": settings.currency, "unit": "whole units of the currency",
            "columns": ["category", "budget", "received", "received_withheld", "spent", "spent_withheld"],
            "rows": rows, "total": totals, "min_contributors": p.min_contributors, "dominance_p": p.dominance_p,
            "rule": (f"exact; a cell is withheld with fewer than {p.min_contributors} contributors (too_few), or when "
                     f"total - x1 - x2 < {p.dominance_p}% of x1, x1 and x2 the two largest contributions (dominance)")}


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
        secret = release_secret(settings) if settings.policy.noise else None
        tables = []
        # suppression is the slow part, table by table
        for table in _tables(settings, cells, weeks, earlier, protect, secret, period):
            tables.append(table)
            if progress is not None:
                progress(len(tables), len(TABLES))
        manifest = _manifest(settings, period, kind, weeks, tables, {w: cumulative[w] + eps for w in weeks})
        if kind == "month":
            manifest["money"] = money_month(store, settings, weeks)
        csv_bytes = files.render_csv(manifest)
        manifest["csv_sha256"] = hashlib.sha256(csv_bytes).hexdigest()
        manifest_bytes = files.canonical_json(manifest)
        digest = hashlib.sha256(manifest_bytes).hexdigest()
        before = _published(settings).get(period)
        if before is not None and before != digest:
            raise ExportError(f"{period} was published before with other numbers (is this a restored backup?); "
                              "a published period is never released again")
        if before is None:
            _remember_published(settings, period, digest)
        row = ReleaseRow(period=period, kind=kind, last_week=weeks[-1], manifest=manifest_bytes, csv=csv_bytes,
                         signature=files.sign(key, manifest_bytes))
        release_rows.save_release(tx, row, [(w, str(eps)) for w in weeks] if eps else [])
    return row, True
