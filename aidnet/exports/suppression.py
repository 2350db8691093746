"""Small-cell suppression, with secondary suppression checked by exact linear algebra.

A table is rows × columns of counts, with row totals, column totals and a
grand total. A cell or total whose value is 1..k-1 is withheld (primary).
Then more cells are withheld (secondary) until no withheld small value can be
worked out from what is shown:

- in every row and column (and the two lines of totals), the withheld
  members add up to 0 or at least k, so subtraction cannot narrow a lone
  small cell down;
- no withheld value is a linear combination of shown values — in this
  release, or together with every earlier release that covers any of the
  same weeks (a month and the weeks in it). This is checked exactly, with
  fractions, by reducing the shown values' week-level sums to echelon form.

Items are (row, column) pairs; "*" stands for "all" (a total).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

ALL = "*"
Item = tuple[str, str]
Var = tuple[str, str, str]  # (week, row, column): one true count nobody outside sees
Functional = frozenset[Var]


@dataclass(frozen=True)
class Shape:
    rows: tuple[str, ...]
    cols: tuple[str, ...]
    weeks: tuple[str, ...]

    def items(self) -> list[Item]:
        items = [(r, c) for r in self.rows for c in self.cols]
        if len(self.cols) > 1:
            items += [(r, ALL) for r in self.rows]
        if len(self.rows) > 1:
            items += [(ALL, c) for c in self.cols]
        if len(self.rows) * len(self.cols) > 1:
            items.append((ALL, ALL))
        return items

    def lines(self) -> list[tuple[list[Item], Item]]:
        """(members, total) for every published sum."""
        lines: list[tuple[list[Item], Item]] = []
        if len(self.cols) > 1:
            lines += [([(r, c) for c in self.cols], (r, ALL)) for r in self.rows]
        if len(self.rows) > 1:
            lines += [([(r, c) for r in self.rows], (ALL, c)) for c in self.cols]
        if len(self.cols) > 1 and len(self.rows) > 1:
            lines.append(([(r, ALL) for r in self.rows], (ALL, ALL)))
            lines.append(([(ALL, c) for c in self.cols], (ALL, ALL)))
        elif len(self.rows) * len(self.cols) > 1:
            lines.append(([(r, c) for r in self.rows for c in self.cols], (ALL, ALL)))
        return lines

    def functional(self, item: Item) -> Functional:
        rows = self.rows if item[0] == ALL else (item[0],)
        cols = self.cols if item[1] == ALL else (item[1],)
        return frozenset((w, r, c) for w in self.weeks for r in rows for c in cols)


def with_totals(shape: Shape, cells: dict[Item, int]) -> dict[Item, int]:
    """Every item's value: cells as given, totals as sums of cells (after any noise)."""
    values = {}
    for r, c in shape.items():
        rows = shape.rows if r == ALL else (r,)
        cols = shape.cols if c == ALL else (c,)
        values[(r, c)] = sum(cells[(x, y)] for x in rows for y in cols)
    return values


def _eliminate(row: dict[Var, int], pivot_row: dict[Var, int], var: Var) -> dict[Var, int]:
    """row * b - pivot_row * a, which has no `var`, divided by its gcd: exact, integers only."""
    a, b = row[var], pivot_row[var]
    out = {v: x * b for v, x in row.items()}
    for v, x in pivot_row.items():
        value = out.get(v, 0) - a * x
        if value:
            out[v] = value
        else:
            out.pop(v, None)
    divisor = math.gcd(*out.values()) if out else 1
    return {v: x // divisor for v, x in out.items()} if divisor > 1 else out


class _Echelon:
    """Row-reduced published sums; answers "is this sum determined by them?" exactly.

    Fraction-free Gaussian elimination over the integers (rows kept divided by
    their gcd), so the answer is exact for the rationals, with no rounding.
    """

    def __init__(self, functionals: Iterable[Functional] = ()) -> None:
        self.pivots: dict[Var, dict[Var, int]] = {}
        self.extend(functionals)

    def extend(self, functionals: Iterable[Functional]) -> _Echelon:
        for f in functionals:
            self._add(dict.fromkeys(f, 1))
        return self

    def copy(self) -> _Echelon:
        twin = _Echelon()
        twin.pivots = {p: dict(row) for p, row in self.pivots.items()}
        return twin

    def _reduce(self, row: dict[Var, int]) -> dict[Var, int]:
        # Pivot rows are fully reduced (no other pivot in them), so one pass suffices.
        for var in [v for v in row if v in self.pivots]:
            if var in row:
                row = _eliminate(row, self.pivots[var], var)
        return row

    def _add(self, row: dict[Var, int]) -> None:
        row = self._reduce(row)
        if not row:
            return
        pivot = min(row)
        for var, other in list(self.pivots.items()):
            if pivot in other:
                self.pivots[var] = _eliminate(other, row, pivot)
        self.pivots[pivot] = row

    def determines(self, f: Functional) -> bool:
        return not self._reduce(dict.fromkeys(f, 1))


@dataclass(frozen=True)
class Earlier:
    """What an earlier release showed and withheld, as sums over week-level counts."""

    shown: tuple[Functional, ...]
    withheld: tuple[Functional, ...]


def derivable(shown: Iterable[Functional], withheld: Iterable[Functional], base: _Echelon | None = None) -> list[Functional]:
    """The withheld sums that the shown sums (plus those already in base) determine exactly."""
    echelon = base.copy().extend(shown) if base else _Echelon(shown)
    return [f for f in withheld if echelon.determines(f)]


def _line_fixes(shape: Shape, values: dict[Item, int], hidden: set[Item], k: int) -> Item | None:
    """One more item to withhold so no line's withheld members add up to 1..k-1."""
    for members, total in shape.lines():
        if total in hidden:
            continue
        withheld = [m for m in members if m in hidden]
        if withheld and 0 < sum(values[m] for m in withheld) < k:
            return _smallest([m for m in members if m not in hidden], values) or total
    return None


def _smallest(candidates: Sequence[Item], values: dict[Item, int]) -> Item | None:
    positive = [c for c in candidates if values[c] > 0]
    pool = positive or list(candidates)
    return min(pool, key=lambda c: (values[c], c)) if pool else None


def plan(shape: Shape, values: dict[Item, int], k: int, earlier: Sequence[Earlier] = (),
         protect: Sequence[Functional] = ()) -> set[Item]:
    """The items to withhold: small ones, and enough others that none can be worked out.

    `protect` adds sums that must stay unknown although no release withheld
    them: small week-level counts a month and a week could give away by
    difference (month - week 1 = week 2) before week 2 is ever released.
    """
    hidden = {item for item, v in values.items() if 0 < v < k}
    items = shape.items()
    functionals = {item: shape.functional(item) for item in items}
    # Earlier releases never change: reduce what they showed once, then add this release's items.
    old = _Echelon(f for e in earlier for f in e.shown)
    old_withheld = [f for e in earlier for f in e.withheld] + list(protect)
    while True:
        extra = _line_fixes(shape, values, hidden, k)
        if extra is None:
            targets = [functionals[i] for i in items if i in hidden and 0 < values[i] < k] + old_withheld
            shown = [functionals[i] for i in items if i not in hidden]
            exposed = set(derivable(shown, targets, old))
            if not exposed:
                return hidden
            extra = _breaker(values, hidden, items, functionals, len(exposed), shown, targets, old)
            if extra is None:
                return hidden  # everything new is withheld: this release adds nothing to solve with
        hidden.add(extra)


def _breaker(values: dict[Item, int], hidden: set[Item], items: list[Item],
             functionals: dict[Item, Functional], exposed: int, shown: list[Functional],
             targets: list[Functional], old: _Echelon) -> Item | None:
    """An item to withhold that leaves fewer withheld values exposed.

    Tries the smallest shown cells in the rows and columns of withheld cells
    first (the classic rectangle), then falls back to totals.
    """
    open_items = [i for i in items if i not in hidden]
    rows = {r for r, c in hidden if ALL not in (r, c)}
    cols = {c for r, c in hidden if ALL not in (r, c)}
    near = sorted((i for i in open_items if ALL not in i and (i[0] in rows or i[1] in cols)),
                  key=lambda i: (values[i], i))
    for candidate in near[:_TRIES]:
        rest = [f for f in shown if f != functionals[candidate]]
        if len(derivable(rest, targets, old)) < exposed:
            return candidate
    totals = [i for i in open_items if ALL in i]
    return _smallest(totals, values) or _smallest(open_items, values)


# How many cells to try before withholding a total: each try is one exact reduction.
_TRIES = 8


# Magnitude tables (money): the standard rules for publishing a sum of amounts exactly.
TOO_FEW = "too_few"  # fewer contributors than the minimum
DOMINANT = "dominance"  # the p% rule: one contributor could be estimated too closely


def magnitude_withheld(contributions: Sequence[int], min_contributors: int, p: int) -> str | None:
    """Why a sum of these contributions may not be published exactly (None: it may).

    A cell with at least one but fewer than min_contributors contributors is withheld (TOO_FEW). Then the
    p% rule: with the contributions sorted x1 >= x2 >= …, the second-largest contributor knows the total
    less their own x2 and so estimates x1 to within the rest, total - x1 - x2; the cell is withheld
    (DOMINANT) when that rest is less than p% of x1: total - x1 - x2 < (p / 100) · x1, exactly, in integers
    (100 · rest < p · x1). An empty cell (nothing moved) is shown: 0 reveals nobody's amount."""
    amounts = sorted((a for a in contributions if a > 0), reverse=True)
    if not amounts:
        return None
    if len(amounts) < min_contributors:
        return TOO_FEW
    rest = sum(amounts[2:])
    return DOMINANT if 100 * rest < p * amounts[0] else None


def magnitude_column(cells: Mapping[str, Sequence[int]], min_contributors: int,
                     p: int) -> tuple[dict[str, str | None], str | None]:
    """Each cell's reason to be withheld (None: shown), and the total's.

    The total is withheld when it fails the rules itself, or when it would give away a withheld cell:
    exactly one cell withheld, or the withheld cells pooled fail the rules (total minus the shown cells is
    their pooled sum, which must then be safe to show)."""
    reasons = {name: magnitude_withheld(c, min_contributors, p) for name, c in cells.items()}
    every = [a for c in cells.values() for a in c]
    total = magnitude_withheld(every, min_contributors, p)
    hidden = [name for name, why in reasons.items() if why is not None]
    if total is None and hidden:
        pooled = [a for name in hidden for a in cells[name]]
        total = magnitude_withheld(pooled, min_contributors, p) if len(hidden) > 1 else reasons[hidden[0]]
    return reasons, total
