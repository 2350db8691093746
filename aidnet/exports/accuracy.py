"""How close the published totals are to the truth: the figures the fixed-seed test and bench/ check.

A synthetic month of n requests spread at random over every category × area,
released with SEEDS different release secrets: the published monthly total of
requests received, against the truth.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass
from fractions import Fraction

from ..config import Settings
from .releases import _margins_table, level_scales, margin
from .suppression import ALL, Shape

SEEDS = 200
MONTH = "2026-02"


def with_epsilon(settings: Settings, epsilon: Fraction) -> Settings:
    policy = settings.policy.__class__(**{**settings.policy.__dict__, "epsilon": epsilon})
    return settings.__class__(**{**settings.__dict__, "policy": policy})


def received_totals(settings: Settings, n: int, seeds: int = SEEDS) -> list[int]:
    """The published total of requests received for each seed (secret and spread of the n requests)."""
    shape = Shape(tuple(settings.categories), tuple(settings.areas), ("2026-W06",))
    keys = sorted((c, a) for c in settings.categories for a in settings.areas)
    out = []
    for seed in range(seeds):
        spread = random.Random(seed)  # noqa: S311  # a synthetic month, not noise
        cells = dict.fromkeys(keys, 0)
        for _ in range(n):
            cells[spread.choice(keys)] += 1
        table = _margins_table(settings, seed.to_bytes(32, "big"), MONTH, "received", shape, cells)
        out.append(next(v for r, c, v in table["values"] if (r, c) == (ALL, ALL)))
    return out


@dataclass(frozen=True)
class Accuracy:
    epsilon: Fraction
    margin: int  # the page's "± m" for this total
    within_10: float  # share of seeds with 50 requests published within ±10
    mean_error: float  # mean (published - 50)
    empty_mean: float  # mean published for a month with none
    empty_p95: int


def measure(settings: Settings, seeds: int = SEEDS) -> Accuracy:
    full = received_totals(settings, 50, seeds)
    empty = sorted(received_totals(settings, 0, seeds))
    return Accuracy(settings.policy.epsilon, margin(level_scales(settings, "received")["total"]),
                    sum(abs(t - 50) <= 10 for t in full) / seeds, statistics.mean(full) - 50,
                    statistics.mean(empty), empty[max(0, int(0.95 * seeds) - 1)])


def table_lines(settings: Settings, epsilons: tuple[Fraction, ...], seeds: int = SEEDS) -> list[str]:
    lines = [f"accuracy of the published monthly total of requests received, {seeds} seeds, "
             f"{len(settings.categories)} categories x {len(settings.areas)} areas",
             "  epsilon   margin(90%)  50 requests: within ±10   mean error   empty month: mean   95th pct",
             ]
    for eps in epsilons:
        a = measure(with_epsilon(settings, eps), seeds)
        lines.append(f"  {str(a.epsilon):<8}  ± {a.margin:<10}  {a.within_10:>22.1%}   {a.mean_error:>+10.2f}"
                     f"   {a.empty_mean:>17.2f}   {a.empty_p95:>8}")
    lines.append("  targets (default ε): within ±10 >= 90%, |mean error| <= 2, empty mean < 3, 95th pct < 12")
    return lines
