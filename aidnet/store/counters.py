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

from collections.abc import Mapping, Sequence

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


def bump_money(tx: Tx, week: str, category: str, direction: str, amount: int, count: int = 1) -> None:
    """Add one movement of money (whole minor units, e.g. cents) to the week's total for a category.

    count 0 adds to the amount only: a request's later payouts, so each request is counted once."""
    if direction not in DIRECTIONS:
        raise ValueError("direction must be 'in' or 'out'")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValueError("amount must be a whole number of minor units, at least 0")
    if count not in (0, 1):
        raise ValueError("count must be 0 or 1")
    tx.execute(
        "INSERT INTO money (week, category, direction, amount, count) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (week, category, direction) DO UPDATE SET amount = amount + excluded.amount,"
        " count = count + excluded.count",
        (week, category, direction, amount, count),
    )


def record_received(tx: Tx, proposal_id: str, category: str, week: str, amount: int) -> None:
    """A final receipt of money: its exact amount in whole units (the log carries its band)."""
    tx.execute("INSERT OR IGNORE INTO money_received (proposal_id, category, week, amount) VALUES (?, ?, ?, ?)",
               (proposal_id, category, week, amount))


def received_for(store: Store, proposal_id: str) -> int | None:
    row = store.conn.execute("SELECT amount FROM money_received WHERE proposal_id = ?", (proposal_id,)).fetchone()
    return int(row[0]) if row else None


def received_amounts(store: Store) -> dict[str, int]:
    """{receipt id: exact whole units} as kept when each receipt became final (the caller checks them)."""
    return {str(pid): int(amount) for pid, amount in store.conn.execute("SELECT proposal_id, amount FROM money_received")}


def paid_by_category(store: Store) -> dict[str, tuple[int, int]]:
    """{category: (0, paid)} in whole units, over every final money allocation kept, less those their requester
    declined (as paid_not_declined: the balance's side).

    A payout finalized before payouts knew their category is under "unknown"."""
    found: dict[str, tuple[int, int]] = {}
    for category, amount in store.conn.execute("SELECT coalesce(category, 'unknown'), sum(amount) FROM money_paid"
                                               " WHERE proposal_id NOT IN (SELECT allocation FROM declined)"
                                               " GROUP BY 1"):
        found[category] = (found.get(category, (0, 0))[0], int(amount))
    return found


def contributions(store: Store, weeks: Sequence[str],
                  signed: Mapping[str, tuple[str, int]]) -> dict[tuple[str, str], list[int]]:
    """{(category, "in" | "out"): [whole units per contributor]} over these weeks.

    A contributor is one receipt (money in; the log does not say who gave, so two gifts by one person
    count as two) or one request (money out: all its payouts in these weeks added up). Money in counts only
    receipts in signed (the verified log's final money receipts: id -> (category, band)), each at most its band."""
    found: dict[tuple[str, str], list[int]] = {}
    for pid, amount in store.conn.execute(
            f"SELECT proposal_id, amount FROM money_received WHERE week IN ({marks(weeks)})",  # noqa: S608  # placeholders only
            tuple(weeks)):
        if pid in signed:
            category, band = signed[pid]
            found.setdefault((category, "in"), []).append(min(int(amount), band))
    for category, amount in store.conn.execute(
            f"SELECT coalesce(category, 'unknown'), sum(amount) FROM money_paid WHERE week IN ({marks(weeks)})"  # noqa: S608  # placeholders only
            " GROUP BY request, 1", tuple(weeks)):
        found.setdefault((category, "out"), []).append(int(amount))
    return found


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


def keep_where(tx: Tx, proposal_id: str, category: str | None, area: str | None, amount: int | None) -> None:
    """What a pending allocation or hand-over will count, known when its proposer could read the request."""
    tx.execute("INSERT OR REPLACE INTO pending_where (proposal_id, category, area, amount) VALUES (?, ?, ?, ?)",
               (proposal_id, category, area, amount))


def kept_where(store: Store, proposal_id: str) -> tuple[str | None, str | None, int | None] | None:
    row = store.conn.execute("SELECT category, area, amount FROM pending_where WHERE proposal_id = ?",
                             (proposal_id,)).fetchone()
    return (row[0], row[1], row[2]) if row else None


def take_where(tx: Tx, proposal_id: str) -> tuple[str | None, str | None, int | None] | None:
    """The kept (category, area, exact amount) of a decision, removed as it is read."""
    row = tx.execute("SELECT category, area, amount FROM pending_where WHERE proposal_id = ?", (proposal_id,)).fetchone()
    tx.execute("DELETE FROM pending_where WHERE proposal_id = ?", (proposal_id,))
    return (row[0], row[1], row[2]) if row else None


def record_paid(tx: Tx, proposal_id: str, request_hex: str, amount: int, category: str | None = None,
                week: str | None = None) -> None:
    tx.execute("INSERT OR IGNORE INTO money_paid (proposal_id, request, amount, category, week) VALUES (?, ?, ?, ?, ?)",
               (proposal_id, request_hex, amount, category, week))


def uncategorized_payouts(store: Store) -> list[str]:
    """Ids of final money allocations kept without a category (finalized before payouts kept one, or without
    anyone able to read their request)."""
    return [str(r[0]) for r in store.conn.execute(
        "SELECT proposal_id FROM money_paid WHERE category IS NULL OR category = 'unknown'")]


def set_paid_category(tx: Tx, proposal_id: str, category: str) -> None:
    """Give a payout kept without a category its category; one that has a category keeps it."""
    tx.execute("UPDATE money_paid SET category = ? WHERE proposal_id = ? AND (category IS NULL OR category = 'unknown')",
               (category, proposal_id))


def paid(store: Store, request_hex: str | None = None) -> int:
    """Whole units paid out by final money allocations (all, or for one request)."""
    if request_hex is None:
        row = store.conn.execute("SELECT coalesce(sum(amount), 0) FROM money_paid").fetchone()
    else:
        row = store.conn.execute("SELECT coalesce(sum(amount), 0) FROM money_paid WHERE request = ?",
                                 (request_hex,)).fetchone()
    return int(row[0])


def paid_not_declined(store: Store) -> int:
    """Whole units held by final money allocations, less those their requester declined (the balance's side).

    paid() still counts a declined one: the published amount of a request stays clipped over all its payouts."""
    row = store.conn.execute("SELECT coalesce(sum(amount), 0) FROM money_paid"
                             " WHERE proposal_id NOT IN (SELECT allocation FROM declined)").fetchone()
    return int(row[0])


def paid_for(store: Store, proposal_id: str) -> int | None:
    """The exact amount a final money allocation paid, if kept."""
    row = store.conn.execute("SELECT amount FROM money_paid WHERE proposal_id = ?", (proposal_id,)).fetchone()
    return int(row[0]) if row else None


def counters_of(store: Store, events: Sequence[str]) -> list[tuple[str, str, str, str, int]]:
    """(week, category, area, event, count) of these events, every week kept."""
    return [tuple(r) for r in store.conn.execute(
        f"SELECT week, category, area, event, count FROM counters WHERE event IN ({marks(events)})",  # noqa: S608  # placeholders only
        tuple(events),
    )]
