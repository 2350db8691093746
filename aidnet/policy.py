"""Retention and export policy, read from the instance config's [retention] and [export] tables.

The policy lives in config.toml, which only the operator can change. Every key
has a default, so an instance folder made before these tables existed still loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

# Below 5, a "small" cell is small enough to point at one household.
MIN_K = 5


@dataclass(frozen=True)
class Policy:
    closed_days: int = 30
    withdrawn_days: int = 0
    max_extension_days: int = 180
    k: int = 10
    noise: bool = True
    epsilon: Fraction = Fraction(1, 2)
    week_budget: Fraction = Fraction(1)
    money_clip: int = 50000
    # Money tables (magnitude tables): a cell is shown exactly only with at least min_contributors
    # contributors and when no contributor can estimate the largest within dominance_p percent (the p% rule).
    min_contributors: int = 3
    dominance_p: int = 10

    def movement_cents(self, units: int) -> int:
        """Forms take whole units; counters keep cents, each movement clipped so one gift or
        payment moves a published total by at most money_clip (the noise is scaled to it)."""
        return min(units * 100, self.money_clip)


def _fraction(value: Any, what: str) -> Fraction:
    if isinstance(value, bool):
        raise ValueError(f"[export] {what} must be a number like \"1/2\"")
    try:
        # str() first: a TOML float 0.5 becomes the exact fraction 1/2, never a binary float.
        return Fraction(str(value).strip())
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"[export] {what} must be a number like \"1/2\"") from None


def _int(table: dict[str, Any], key: str, default: int, low: int, high: int, section: str) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"[{section}] {key} must be a whole number from {low} to {high}")
    return value


def parse_policy(config: dict[str, Any]) -> Policy:
    """The policy from a parsed config.toml; ValueError with a one-line reason if it is unusable."""
    retention = config.get("retention", {})
    export = config.get("export", {})
    if not isinstance(retention, dict) or not isinstance(export, dict):
        raise ValueError("[retention] and [export] must be tables")
    defaults = Policy()
    epsilon = _fraction(export.get("epsilon", defaults.epsilon), "epsilon")
    budget = _fraction(export.get("week_budget", defaults.week_budget), "week_budget")
    if not 0 < epsilon <= 10 or budget < epsilon:
        raise ValueError("[export] epsilon must be in (0, 10] and week_budget at least epsilon")
    noise = export.get("noise", True)
    if not isinstance(noise, bool):
        raise ValueError("[export] noise must be true or false")
    return Policy(
        closed_days=_int(retention, "closed_days", defaults.closed_days, 0, 3650, "retention"),
        withdrawn_days=_int(retention, "withdrawn_days", defaults.withdrawn_days, 0, 3650, "retention"),
        max_extension_days=_int(retention, "max_extension_days", defaults.max_extension_days, 1, 3650, "retention"),
        k=_int(export, "k", defaults.k, MIN_K, 1000, "export"),
        noise=noise,
        epsilon=epsilon,
        week_budget=budget,
        money_clip=_int(export, "money_clip", defaults.money_clip, 1, 10**12, "export"),
        min_contributors=_int(export, "min_contributors", defaults.min_contributors, 3, 1000, "export"),
        dominance_p=_int(export, "dominance_p", defaults.dominance_p, 1, 100, "export"),
    )
