"""Property tests: no value from 1 to k-1 is ever shown, nor derivable from totals, in one release or across two.

The checker here is written independently of aidnet.suppression: it builds
each published number as a vector over the true week-level counts and asks,
by exact Gaussian elimination, whether a withheld small value lies in the span
of the shown ones (then subtraction of totals would give it away).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import pytest
from helpers.timelimit import time_limit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aidnet.exports.suppression import ALL, Earlier, Shape, plan, with_totals

WEEKS = ("2026-W01", "2026-W02")
# The slowest test here takes a few seconds: a plan that never finishes fails its test instead of hanging.
_time_limit = time_limit(30, "a plan that never finishes?")


def reduce(basis: dict[int, list[Fraction]], v: list[Fraction]) -> list[Fraction]:
    v = list(v)
    for col, row in basis.items():
        if v[col] != 0:
            factor = v[col]
            v = [a - factor * b for a, b in zip(v, row, strict=True)]
    return v


def echelon(vectors: list[list[Fraction]]) -> dict[int, list[Fraction]]:
    """Fully reduced rows keyed by pivot column."""
    basis: dict[int, list[Fraction]] = {}
    for v in vectors:
        v = reduce(basis, v)
        col = next((i for i, x in enumerate(v) if x != 0), None)
        if col is None:
            continue
        v = [x / v[col] for x in v]
        for c, row in basis.items():
            if row[col] != 0:
                basis[c] = [a - row[col] * b for a, b in zip(row, v, strict=True)]
        basis[col] = v
    return basis


def vector(item: tuple[str, str], rows: tuple[str, ...], cols: tuple[str, ...], weeks: tuple[str, ...],
           space: list[tuple[str, str, str]]) -> list[Fraction]:
    rs = rows if item[0] == ALL else (item[0],)
    cs = cols if item[1] == ALL else (item[1],)
    covered = {(w, r, c) for w in weeks for r in rs for c in cs}
    return [Fraction(1 if v in covered else 0) for v in space]


def exposed(releases: list[tuple[tuple[str, ...], dict[tuple[str, str], int], set[tuple[str, str]]]],
            rows: tuple[str, ...], cols: tuple[str, ...], k: int,
            weekly: dict[str, dict[tuple[str, str], int]] | None = None) -> list[str]:
    """Small values the shown values of all these releases determine: withheld ones, and week-level ones."""
    space = [(w, r, c) for w in WEEKS for r in rows for c in cols]
    shown = [vector(i, rows, cols, weeks, space) for weeks, values, hidden in releases for i in values if i not in hidden]
    basis = echelon(shown)
    targets = [(weeks, item, values[item]) for weeks, values, hidden in releases for item in hidden]
    for week, cells in (weekly or {}).items():
        shape = Shape(rows, cols, (week,))
        targets += [((week,), item, v) for item, v in with_totals(shape, cells).items()]
    found = []
    for weeks, item, value in targets:
        if 0 < value < k and not any(reduce(basis, vector(item, rows, cols, weeks, space))):
            found.append(f"{weeks}:{item}={value}")
    return found


def line_problems(shape: Shape, values: dict[tuple[str, str], int], hidden: set[tuple[str, str]], k: int) -> list[str]:
    problems = []
    for members, total in shape.lines():
        withheld = [m for m in members if m in hidden]
        if total not in hidden and 0 < sum(values[m] for m in withheld) < k:
            problems.append(f"line {total}: withheld members add up to less than k")
    return problems


small_or_large = st.one_of(st.just(0), st.integers(1, 12), st.integers(10, 60))


@st.composite
def tables(draw: st.DrawFn) -> tuple[tuple[str, ...], tuple[str, ...], int, dict[str, dict[tuple[str, str], int]]]:
    rows = tuple(f"r{i}" for i in range(draw(st.integers(1, 4))))
    cols = tuple(f"c{i}" for i in range(draw(st.integers(1, 4))))
    k = draw(st.integers(5, 12))
    weekly = {w: {(r, c): draw(small_or_large) for r in rows for c in cols} for w in WEEKS}
    return rows, cols, k, weekly


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_one_release_never_shows_or_reveals_a_small_value(table) -> None:  # type: ignore[no-untyped-def]
    rows, cols, k, weekly = table
    shape = Shape(rows, cols, WEEKS[:1])
    values = with_totals(shape, weekly[WEEKS[0]])
    hidden = plan(shape, values, k)
    assert all(item in hidden for item, v in values.items() if 0 < v < k)
    assert not line_problems(shape, values, hidden, k)
    assert not exposed([(WEEKS[:1], values, hidden)], rows, cols, k)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), st.booleans())
def test_weeks_and_their_month_together_reveal_no_small_value(table, month_first: bool) -> None:  # type: ignore[no-untyped-def]
    rows, cols, k, weekly = table
    month_cells = {item: weekly[WEEKS[0]][item] + weekly[WEEKS[1]][item] for item in weekly[WEEKS[0]]}
    specs: list[tuple[tuple[str, ...], dict[tuple[str, str], int]]] = [
        (WEEKS[:1], weekly[WEEKS[0]]), (WEEKS[1:], weekly[WEEKS[1]])]
    specs = [(WEEKS, month_cells), *specs] if month_first else [*specs, (WEEKS, month_cells)]
    done: list[tuple[tuple[str, ...], dict[tuple[str, str], int], set[tuple[str, str]]]] = []
    for weeks, cells in specs:
        shape = Shape(rows, cols, weeks)
        values = with_totals(shape, cells)
        # All earlier releases: within one month they are all linked (month - week 2 = week 1).
        earlier = [Earlier(tuple(Shape(rows, cols, w).functional(i) for i in v if i not in h),
                           tuple(Shape(rows, cols, w).functional(i) for i in h))
                   for w, v, h in done]
        protect = [Shape(rows, cols, (w,)).functional(i) for w in WEEKS
                   for i, v in with_totals(Shape(rows, cols, (w,)), weekly[w]).items() if 0 < v < k]
        hidden = plan(shape, values, k, earlier, protect)
        assert all(item in hidden for item, v in values.items() if 0 < v < k)
        assert not line_problems(shape, values, hidden, k)
        done.append((weeks, values, hidden))
        # Every pair of releases made so far, and all of them together, reveal nothing small,
        # not even a week's small count that no release has shown yet.
        for i in range(len(done)):
            for j in range(i + 1, len(done)):
                assert not exposed([done[i], done[j]], rows, cols, k, weekly)
        assert not exposed(done, rows, cols, k, weekly)


def test_a_lone_small_cell_gets_a_partner_not_a_give_away() -> None:
    shape = Shape(("a", "b"), ("x", "y"), WEEKS[:1])
    values = with_totals(shape, {("a", "x"): 3, ("a", "y"): 20, ("b", "x"): 15, ("b", "y"): 12})
    hidden = plan(shape, values, 10)
    # The classic rectangle: the small cell and three partners, every total still shown.
    assert hidden == {("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")}
    assert not exposed([(WEEKS[:1], values, hidden)], ("a", "b"), ("x", "y"), 10)


def test_shapes_publish_exactly_their_totals() -> None:
    """Which totals each shape publishes, pinned: two columns get row totals, one column none, one cell none."""
    two = Shape(("a", "b"), ("x", "y"), WEEKS[:1])
    assert two.items() == [("a", "x"), ("a", "y"), ("b", "x"), ("b", "y"), ("a", ALL), ("b", ALL),
                           (ALL, "x"), (ALL, "y"), (ALL, ALL)]
    assert len(two.lines()) == 2 + 2 + 2
    column = Shape(("a", "b"), ("all",), WEEKS[:1])
    assert column.items() == [("a", "all"), ("b", "all"), (ALL, "all"), (ALL, ALL)]
    cells = [("a", "all"), ("b", "all")]
    assert column.lines() == [(cells, (ALL, "all")), (cells, (ALL, ALL))]
    row = Shape(("a",), ("x", "y"), WEEKS[:1])
    assert row.items() == [("a", "x"), ("a", "y"), ("a", ALL), (ALL, ALL)]
    assert row.lines() == [([("a", "x"), ("a", "y")], ("a", ALL)), ([("a", "x"), ("a", "y")], (ALL, ALL))]
    one = Shape(("u",), ("u",), WEEKS[:1])
    assert one.items() == [("u", "u")] and one.lines() == []
    values = with_totals(two, {("a", "x"): 3, ("a", "y"): 20, ("b", "x"): 20, ("b", "y"): 20})
    assert values[("a", ALL)] == 23 and values[(ALL, "x")] == 23 and values[(ALL, ALL)] == 63
    hidden = plan(two, values, 10)
    # The 3 is withheld, and so is enough of its row, column and totals that no subtraction gives it.
    assert ("a", "x") in hidden and not line_problems(two, values, hidden, 10)
    assert not exposed([(WEEKS[:1], values, hidden)], ("a", "b"), ("x", "y"), 10)


def _grid(rows: Sequence[str], cols: Sequence[str], numbers: list[int]) -> dict[tuple[str, str], int]:
    return dict(zip([(r, c) for r in rows for c in cols], numbers, strict=True))


@pytest.mark.parametrize(("rows", "cols", "cells", "expected"), [
    # A zero is no partner (withholding it hides nothing): the smallest positive cell is taken instead.
    ("ab", "xyz", _grid("ab", "xyz", [3, 0, 20, 15, 0, 12]), {("a", "x"), ("a", "z"), ("b", "x"), ("b", "z")}),
    # Two small cells adding up to exactly k need no more in their row; each column still needs a partner.
    ("ab", "xy", _grid("ab", "xy", [4, 6, 30, 25]), {("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")}),
    # One column: its cells and the total, which is shown.
    ("abc", ("all",), _grid("abc", ("all",), [3, 20, 30]), {("a", "all"), ("b", "all")}),
    # Ties go to the first in (row, column) order, so a release is the same every time.
    ("abc", "xy", _grid("abc", "xy", [2, 15, 15, 15, 15, 15]), {("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")}),
    (("a",), "xyz", _grid(("a",), "xyz", [5, 12, 12]), {("a", "x"), ("a", "y")}),
    ("abcd", "wxyz", _grid("abcd", "wxyz", [1, 0, 30, 14, 22, 9, 0, 40, 13, 17, 2, 11, 0, 25, 19, 3]),
     {("a", "w"), ("a", "z"), ("b", "w"), ("b", "x"), ("c", "x"), ("c", "y"), ("c", "z"), ("d", "y"), ("d", "z")}),
])
def test_known_answers_withhold_no_more_than_these(rows: tuple[str, ...], cols: tuple[str, ...],
                                                  cells: dict[tuple[str, str], int], expected: set[tuple[str, str]]) -> None:
    """What is withheld, pinned: more would hide numbers for nothing, and other cells would change a release."""
    shape = Shape(tuple(rows), tuple(cols), WEEKS[:1])
    values = with_totals(shape, cells)
    hidden = plan(shape, values, 10)
    assert hidden == expected
    assert not line_problems(shape, values, hidden, 10) and not exposed([(WEEKS[:1], values, hidden)], shape.rows, shape.cols, 10)


def test_known_answer_when_a_month_must_keep_small_weeks_underivable() -> None:
    """A month over two weeks whose small week-level counts must stay unknown: after the line rules, a shown cell
    near the withheld ones is withheld to break what is left exposed (the rectangle), not a total. Pinned."""
    rows, cols = ("a", "b", "c"), ("x", "y", "z")
    weekly = {WEEKS[0]: _grid("abc", "xyz", [2, 20, 20, 2, 5, 20, 12, 30, 20]),
              WEEKS[1]: _grid("abc", "xyz", [0, 40, 0, 25, 12, 40, 3, 3, 25])}
    shape = Shape(rows, cols, WEEKS)
    values = with_totals(shape, {i: weekly[WEEKS[0]][i] + weekly[WEEKS[1]][i] for i in weekly[WEEKS[0]]})
    protect = [Shape(rows, cols, (w,)).functional(i) for w in WEEKS
               for i, v in with_totals(Shape(rows, cols, (w,)), weekly[w]).items() if 0 < v < 10]
    hidden = plan(shape, values, 10, (), protect)
    assert hidden == {("a", "x"), ("a", "z"), ("c", "x"), ("c", "z")}
    assert not line_problems(shape, values, hidden, 10) and not exposed([(WEEKS, values, hidden)], rows, cols, 10, weekly)


def _inputs(rows: str, cols: str, k: int, mode: str, weekly: list[list[int]]) -> tuple[
        Shape, dict[tuple[str, str], int], list[Earlier], list[Any], list[tuple[Any, ...]]]:
    """A table over one or two weeks; mode "protect": its small week-level counts must stay unknown; "earlier":
    each week was released first (as releases.py does: what each showed and withheld)."""
    weeks = WEEKS[:len(weekly)]
    cells = {w: _grid(rows, cols, numbers) for w, numbers in zip(weeks, weekly, strict=True)}
    shape = Shape(tuple(rows), tuple(cols), weeks)
    values = with_totals(shape, {i: sum(cells[w][i] for w in weeks) for i in cells[weeks[0]]})
    earlier: list[Earlier] = []
    protect: list[Any] = []
    releases: list[tuple[Any, ...]] = []
    for week in weeks if mode != "none" else ():
        week_shape = Shape(tuple(rows), tuple(cols), (week,))
        week_values = with_totals(week_shape, cells[week])
        if mode == "protect":
            protect += [week_shape.functional(i) for i, v in week_values.items() if 0 < v < k]
            continue
        hidden = plan(week_shape, week_values, k, tuple(earlier))
        earlier.append(Earlier(tuple(week_shape.functional(i) for i in week_shape.items() if i not in hidden),
                               tuple(week_shape.functional(i) for i in week_shape.items() if i in hidden)))
        releases.append(((week,), week_values, hidden))
    return shape, values, earlier, protect, releases


# Found by search (each tells the plan apart from some mutant of suppression.py that every other test here
# let through: which cell breaks a rectangle, which total goes, what an earlier week adds). Rows a-d, columns w-z.
@pytest.mark.parametrize(("rows", "cols", "k", "mode", "weekly", "expected"), [
    ("abcd", "wxy", 5, "earlier", [[0, 3, 6, 4, 6, 45, 2, 3, 0, 3, 30, 12], [2, 15, 6, 0, 2, 0, 6, 1, 0, 30, 1, 9]],
     {("*", "*"), ("*", "w"), ("*", "x"), ("*", "y"), ("a", "*"), ("a", "w"), ("a", "x"), ("a", "y"), ("b", "*"), ("b", "w"),
      ("b", "x"), ("c", "*"), ("c", "w"), ("c", "x"), ("d", "*"), ("d", "w"), ("d", "x"), ("d", "y")}),
    ("ab", "wxyz", 5, "none", [[45, 0, 45, 15, 0, 4, 3, 45]],
     {("*", "w"), ("*", "x"), ("a", "x"), ("a", "y"), ("b", "w"), ("b", "x"), ("b", "y")}),
    ("a", "w", 5, "earlier", [[2], [2]],
     {("a", "w")}),
    ("abcd", "wxyz", 5, "none", [[0, 12, 45, 45, 4, 0, 12, 20, 1, 1, 45, 1, 1, 4, 3, 0]],
     {("b", "w"), ("b", "y"), ("b", "z"), ("c", "w"), ("c", "x"), ("c", "y"), ("c", "z"), ("d", "w"), ("d", "x"), ("d", "y")}),
    ("abc", "w", 5, "earlier", [[45, 1, 12], [6, 4, 9]],
     {("*", "*"), ("*", "w"), ("a", "w"), ("b", "w"), ("c", "w")}),
    ("abc", "wx", 5, "none", [[12, 30, 0, 45, 4, 15]],
     {("a", "w"), ("a", "x"), ("c", "w"), ("c", "x")}),
    ("abc", "wxyz", 10, "earlier", [[20, 30, 9, 45, 4, 6, 9, 45, 0, 9, 4, 1], [6, 1, 0, 1, 3, 4, 1, 15, 45, 3, 6, 3]],
     {("*", "w"), ("*", "x"), ("*", "y"), ("*", "z"), ("a", "*"), ("a", "w"), ("a", "x"), ("a", "y"), ("a", "z"), ("b", "*"),
      ("b", "w"), ("b", "x"), ("b", "y"), ("b", "z"), ("c", "*"), ("c", "w"), ("c", "y"), ("c", "z")}),
    ("ab", "wx", 10, "none", [[1, 0, 20, 6], [3, 0, 1, 45]],
     {("a", "*"), ("a", "w"), ("b", "*"), ("b", "w")}),
    ("abcd", "wx", 5, "none", [[3, 0, 45, 15, 0, 45, 0, 15]],
     {("a", "*"), ("a", "w"), ("b", "w"), ("d", "*"), ("d", "w")}),
    ("abc", "wxyz", 10, "earlier", [[1, 2, 0, 3, 0, 0, 3, 3, 30, 1, 6, 15], [3, 1, 0, 12, 0, 15, 2, 15, 9, 1, 45, 30]],
     {("*", "*"), ("*", "w"), ("*", "x"), ("*", "y"), ("*", "z"), ("a", "*"), ("a", "w"), ("a", "x"), ("a", "y"), ("a", "z"),
      ("b", "*"), ("b", "w"), ("b", "x"), ("b", "y"), ("b", "z"), ("c", "*"), ("c", "w"), ("c", "x"), ("c", "y"), ("c", "z")}),
    ("abc", "wxy", 5, "none", [[6, 12, 6, 1, 9, 45, 3, 15, 4]],
     {("a", "w"), ("a", "x"), ("a", "y"), ("b", "w"), ("b", "x"), ("c", "w"), ("c", "y")}),
    ("ab", "w", 5, "earlier", [[20, 9], [0, 1]],
     {("*", "*"), ("*", "w"), ("b", "w")}),
])
def test_known_answers_across_weeks_earlier_releases_and_breakers(rows: str, cols: str, k: int, mode: str,
                                                                  weekly: list[list[int]],
                                                                  expected: set[tuple[str, str]]) -> None:
    """What is withheld, pinned, in shapes the other known answers do not reach; each answer is safe."""
    shape, values, earlier, protect, releases = _inputs(rows, cols, k, mode, weekly)
    hidden = plan(shape, values, k, earlier, protect)
    assert hidden == expected
    cells = {w: _grid(rows, cols, n) for w, n in zip(shape.weeks, weekly, strict=True)} if mode == "protect" else None
    assert not line_problems(shape, values, hidden, k)
    assert not exposed([*releases, (shape.weeks, values, hidden)], shape.rows, shape.cols, k, cells)
