"""SQL for the aggregate counters: events by week, category and area, and money by week and category.

Exports read only these two tables: aggregates bumped when something happens,
never rows about a person. Callers bump them inside their own write
transaction, so the event and its count commit together:

    with store.write() as tx:
        ...
        counters.bump(tx, dates.this_week(), category, area, "received")
        counters.bump_money(tx, dates.this_week(), category, "in", amount_in_cents)
"""

from __future__ import annotations

from collections.abc import Sequence

from .connection import Store, Tx

DIRECTIONS = ("in", "out")


def marks(values: Sequence[object]) -> str:
    """As many ? placeholders as values, comma-separated: the values travel as parameters."""
    return ",".join("?" * len(values))


def bump(tx: Tx, week: str, category: str, area: str, event: str) -> None:
    tx.execute(
        "INSERT INTO counters (week, category, area, event, count) VALUES (?, ?, ?, ?, 1)"
        " ON CONFLICT (week, category, area, event) DO UPDATE SET count = count + 1",
        (week, category, area, event),
    )


def all_counters(store: Store) -> list[tuple[str, str, str, str, int]]:
    return [tuple(r) for r in store.conn.execute(
        "SELECT week, category, area, event, count FROM counters ORDER BY 1, 2, 3, 4"
    )]


def bump_money(tx: Tx, week: str, category: str, direction: str, amount: int) -> None:
    """Add one movement of money (whole minor units, e.g. cents) to the week's total for a category."""
    if direction not in DIRECTIONS:
        raise ValueError("direction must be 'in' or 'out'")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValueError("amount must be a whole number of minor units, at least 0")
    tx.execute(
        "INSERT INTO money (week, category, direction, amount, count) VALUES (?, ?, ?, ?, 1)"
        " ON CONFLICT (week, category, direction) DO UPDATE SET amount = amount + excluded.amount, count = count + 1",
        (week, category, direction, amount),
    )


def counters_for(store: Store, weeks: Sequence[str]) -> list[tuple[str, str, str, str, int]]:
    """(week, category, area, event, count) for these weeks: aggregates only."""
    return [tuple(r) for r in store.conn.execute(
        f"SELECT week, category, area, event, count FROM counters WHERE week IN ({marks(weeks)})",  # noqa: S608  # placeholders only
        tuple(weeks),
    )]


def money_for(store: Store, weeks: Sequence[str]) -> list[tuple[str, str, str, int, int]]:
    """(week, category, direction, amount, count) for these weeks."""
    return [tuple(r) for r in store.conn.execute(
        f"SELECT week, category, direction, amount, count FROM money WHERE week IN ({marks(weeks)})",  # noqa: S608  # placeholders only
        tuple(weeks),
    )]
