"""The discrete Laplace sampler: exact integers from `secrets`, the right distribution, no floats."""

from __future__ import annotations

import ast
import hashlib
import hmac
import math
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest
from helpers.timelimit import time_limit

from aidnet.exports import noise

# Every test here takes well under a second: a sampler that never returns fails its test instead of hanging.
_time_limit = time_limit(15, "a draw that never returns?")


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

    monkeypatch.setattr("aidnet.exports.noise.secrets.randbelow", fake)
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
    with pytest.raises(ValueError, match="scale must be positive"):
        noise.discrete_laplace(Fraction(0))


def _pmf(scale: Fraction, x: int) -> float:
    p = math.exp(-1 / float(scale))
    return (1 - p) / (1 + p) * p ** abs(x)


@pytest.mark.parametrize("scale", [Fraction(1, 3), Fraction(1, 2), Fraction(1), Fraction(3, 2), Fraction(4), Fraction(10)])
def test_goodness_of_fit_and_variance_at_fixed_seed(scale: Fraction) -> None:
    """Chi-square over the values near 0 (tails lumped) and the variance, for scales below, at and above 1.

    A wrong inner step (v = 1, v += 2, u - t*v, a skipped Bernoulli) changes the distribution far
    beyond these bounds; the draws come from a fixed-seed Stream, so the test is exact and repeatable.
    """
    n = 6000
    stream = noise.Stream(b"fixed seed for the sampler test", str(scale))
    draws = [noise.discrete_laplace(scale, stream.randbelow) for _ in range(n)]
    m = max(1, int(2 * scale))
    observed = Counter(max(-m - 1, min(m + 1, x)) for x in draws)
    tail = sum(_pmf(scale, x) for x in range(m + 1, m + 200))
    chi2 = 0.0
    for x in range(-m - 1, m + 2):
        expected = n * (tail if abs(x) == m + 1 else _pmf(scale, x))
        chi2 += (observed[x] - expected) ** 2 / expected
    df = 2 * m + 2
    assert chi2 < df + 6 * math.sqrt(2 * df), (chi2, df)  # far out in the tail of chi-square(df)
    p = math.exp(-1 / float(scale))
    variance = 2 * p / (1 - p) ** 2
    mean_square = sum(x * x for x in draws) / n
    assert abs(mean_square - variance) < 0.12 * variance + 0.01, (mean_square, variance)
    assert abs(sum(draws) / n) < 4 * math.sqrt(variance / n) + 0.01


@pytest.mark.parametrize("gamma", [Fraction(3, 2), Fraction(5, 2), Fraction(1), Fraction(1, 5)])
def test_bernoulli_exp_above_one_and_below(gamma: Fraction) -> None:
    stream = noise.Stream(b"bernoulli", str(gamma))
    n = 8000
    hits = sum(noise.bernoulli_exp(gamma, stream.randbelow) for _ in range(n))
    expected = math.exp(-float(gamma))
    assert abs(hits / n - expected) < 4 * math.sqrt(expected * (1 - expected) / n), (hits / n, expected)


def test_stream_is_deterministic_uniform_and_keyed() -> None:
    a, b = noise.Stream(b"k", "2026-02|received|*|*"), noise.Stream(b"k", "2026-02|received|*|*")
    assert [a.randbelow(1000) for _ in range(50)] == [b.randbelow(1000) for _ in range(50)]
    other = noise.Stream(b"k", "2026-02|received|food|*")
    assert [other.randbelow(1000) for _ in range(50)] != [noise.Stream(b"k", "2026-02|received|*|*").randbelow(1000)
                                                          for _ in range(50)]
    s = noise.Stream(b"u", "x")
    counts = Counter(s.randbelow(7) for _ in range(7000))
    assert set(counts) == set(range(7)) and all(abs(c - 1000) < 150 for c in counts.values())
    assert all(s.randbelow(1) == 0 for _ in range(5))
    with pytest.raises(ValueError):
        s.randbelow(0)


def test_known_answers_so_a_release_draws_the_same_numbers_in_every_version() -> None:
    """The Stream and the sampler, pinned: a change to either would re-draw an already published period."""
    s = noise.Stream(b"known answer", "2026-02|received|*|*")
    assert [s.randbelow(1000) for _ in range(6)] == [960, 994, 764, 641, 209, 676]
    assert [s.randbelow(2**20) for _ in range(2)] == [88813, 812824]
    # One byte a draw up to 256, two up to 65536, and one even for randbelow(1): the bytes used, pinned.
    s = noise.Stream(b"known answer", "bytes per draw")
    assert [s.randbelow(256) for _ in range(3)] == [243, 145, 179]
    assert [s.randbelow(2**16) for _ in range(2)] == [65174, 46742]
    assert [s.randbelow(1) for _ in range(3)] == [0, 0, 0] and s.randbelow(1000) == 560
    assert [s.randbelow(129) for _ in range(3)] == [75, 88, 91]
    s = noise.Stream(b"known answer", "2026-02|received|*|*")
    assert [noise.discrete_laplace(Fraction(4), s.randbelow) for _ in range(8)] == [10, -5, -2, -8, 0, -2, 0, -7]
    # Above 1, every whole step of gamma is drawn from the same stream too (never from secrets).
    s = noise.Stream(b"known answer", "bernoulli above one")
    hits = [noise.bernoulli_exp(Fraction(5, 2), s.randbelow) for _ in range(24)]
    assert [n for n, hit in enumerate(hits) if hit] == [1, 4]


def test_the_stream_is_hmac_sha256_in_counter_mode_read_across_its_blocks() -> None:
    """Written from the construction, not from the code: key = HMAC(secret, label), block i = HMAC(key, i as 8
    bytes big-endian), the blocks read one after another, whole bytes a draw, big-endian, a leftover kept."""
    key = hmac.new(b"known answer", b"across blocks", hashlib.sha256).digest()
    pool = b"".join(hmac.new(key, i.to_bytes(8, "big"), hashlib.sha256).digest() for i in range(3))
    s = noise.Stream(b"known answer", "across blocks")
    assert s.randbelow(256) == pool[0]
    assert [s.randbelow(2**16) for _ in range(17)] == [int.from_bytes(pool[1 + 2 * i:3 + 2 * i], "big") for i in range(17)]
    assert [s.randbelow(2**24) for _ in range(11)] == [int.from_bytes(pool[35 + 3 * i:38 + 3 * i], "big")
                                                       for i in range(11)]
    assert pool[35:38] == bytes.fromhex("f9fc31")  # the first 24-bit draw: 16383025, as the code gave it


def test_scale_for_sensitivity_one_and_fractions() -> None:
    assert noise.scale_for(Fraction(1, 2), 1) == 2 and noise.scale_for(Fraction(1, 8), 1) == 8
    assert noise.scale_for(Fraction(1, 64), 50000) == 3200000
    with pytest.raises(ValueError):
        noise.scale_for(Fraction(1, 2), 0)
    with pytest.raises(ValueError):
        noise.discrete_laplace(Fraction(-1))


class _Budgeted:
    """A Stream's randbelow that refuses to draw more than a budget: a sampler that would loop forever (a
    broken Bernoulli or loop counter) fails here at once instead of hanging the release that calls it."""

    def __init__(self, label: str, budget: int) -> None:
        self.stream, self.budget, self.calls = noise.Stream(b"budgeted", label), budget, 0

    def __call__(self, n: int) -> int:
        self.calls += 1
        if self.calls > self.budget:
            raise AssertionError(f"the sampler drew {self.calls} numbers, far beyond what it ever needs")
        return self.stream.randbelow(n)


@pytest.mark.parametrize("scale,per_draw", [(Fraction(1, 3), 18), (Fraction(1), 13), (Fraction(4), 12),
                                            (Fraction(10), 12), (Fraction(1024, 7), 12)])
def test_a_draw_costs_a_bounded_number_of_random_numbers(scale: Fraction, per_draw: int) -> None:
    """Each draw takes a few uniform numbers on average (CKS: a constant expected count for any scale)."""
    rng = _Budgeted(str(scale), 100_000)
    for _ in range(500):
        noise.discrete_laplace(scale, rng)
    assert rng.calls < 500 * per_draw, rng.calls / 500


@pytest.mark.parametrize("gamma,per_draw", [(Fraction(0), 1), (Fraction(1, 7), 1.5), (Fraction(1), 3.4),
                                            (Fraction(7, 3), 5), (Fraction(12), 5.4)])
def test_bernoulli_exp_takes_a_bounded_number_of_random_numbers(gamma: Fraction, per_draw: float) -> None:
    rng = _Budgeted(str(gamma), 50_000)
    hits = sum(noise.bernoulli_exp(gamma, rng) for _ in range(1000))
    assert rng.calls <= 1000 * per_draw, rng.calls / 1000
    if gamma == 0:
        assert hits == 1000  # exp(0) = 1: always true, after one draw
