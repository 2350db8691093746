"""The discrete Laplace sampler: exact integers from `secrets`, the right distribution, no floats."""

from __future__ import annotations

import ast
import math
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest

from aidnet.exports import noise


def test_draws_follow_the_discrete_laplace_distribution() -> None:
    scale = Fraction(2)
    draws = [noise.discrete_laplace(scale) for _ in range(4000)]
    assert all(type(x) is int for x in draws)
    p = math.exp(-1 / 2)
    expected_zero = (1 - p) / (1 + p)  # P(0) for P(x) ∝ p^|x|: about 0.245
    counts = Counter(draws)
    assert abs(counts[0] / len(draws) - expected_zero) < 0.04
    assert abs(sum(draws) / len(draws)) < 0.4  # symmetric around 0 (sd of the mean is about 0.045)
    positive = sum(1 for x in draws if x > 0)
    negative = sum(1 for x in draws if x < 0)
    assert abs(positive - negative) < 0.12 * len(draws)
    # A fractional scale works too, and is wider for a larger scale.
    wide = [noise.discrete_laplace(Fraction(10)) for _ in range(1000)]
    assert sum(abs(x) for x in wide) > 3 * sum(abs(x) for x in draws[:1000])


def test_bernoulli_exp_is_exact_in_distribution() -> None:
    hits = sum(noise.bernoulli_exp(Fraction(1, 2)) for _ in range(4000))
    assert abs(hits / 4000 - math.exp(-0.5)) < 0.04
    with pytest.raises(ValueError):
        noise.bernoulli_exp(Fraction(-1))


def test_randomness_comes_from_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def fake(n: int) -> int:
        calls.append(n)
        return n - 1  # always the largest: a deterministic walk through the sampler

    monkeypatch.setattr(noise.secrets, "randbelow", fake)
    # u = 2 of 3 is accepted, the geometric part stops at 0, the sign bit says negative.
    assert noise.discrete_laplace(Fraction(3)) == -2
    assert calls and all(isinstance(n, int) for n in calls)


def test_no_floating_point_in_the_sampling_path() -> None:
    tree = ast.parse(Path(noise.__file__).read_text())
    floats = [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, float)]
    imports = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom) for a in n.names}
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    divisions = [n for n in ast.walk(tree) if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div)]
    assert not floats and "float" not in calls
    assert not imports & {"random", "math", "numpy"}
    # The only true divisions are of Fractions (gamma / k, sensitivity / epsilon).
    assert len(divisions) == 2


def test_scale_for_epsilon_and_sensitivity() -> None:
    assert noise.scale_for(Fraction(1, 2), 5) == 10
    with pytest.raises(ValueError):
        noise.scale_for(Fraction(0), 1)
    with pytest.raises(ValueError):
        noise.discrete_laplace(Fraction(0))
