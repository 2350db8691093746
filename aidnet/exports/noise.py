"""Exact integer noise: the discrete Laplace distribution, drawn with integers and `secrets` only.

Floating-point Laplace noise leaks the true value through the pattern of the
low bits of the doubles it can produce (Mironov 2012). This sampler never
touches a float: every step is a comparison of integers drawn by
`secrets.randbelow`, following Canonne, Kamath and Steinke, "The Discrete
Gaussian for Differential Privacy" (NeurIPS 2020), Algorithms 1 and 2.

The result X has P(X = x) proportional to exp(-|x| / scale) for every integer
x, with `scale` an exact fraction. Adding it to a count whose value one
record can change by at most `sensitivity` gives (sensitivity / scale)-DP.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from fractions import Fraction

Rng = Callable[[int], int]  # randbelow(n): a uniform integer in [0, n)


class Stream:
    """A deterministic randbelow from a secret and a label: HMAC-SHA256 in counter mode, exact rejection.

    The same (secret, label) always gives the same draws, so a period's noise
    can be drawn again, after a restore, only as the very same numbers.
    """

    def __init__(self, secret: bytes, label: str) -> None:
        self._key = hmac.new(secret, label.encode("utf-8"), hashlib.sha256).digest()
        self._counter = 0
        self._pool = b""

    def _bytes(self, n: int) -> bytes:
        while len(self._pool) < n:
            self._pool += hmac.new(self._key, self._counter.to_bytes(8, "big"), hashlib.sha256).digest()
            self._counter += 1
        out, self._pool = self._pool[:n], self._pool[n:]
        return out

    def randbelow(self, n: int) -> int:
        if n <= 0:
            raise ValueError("n must be positive")
        bits = (n - 1).bit_length()
        while True:
            x = int.from_bytes(self._bytes((bits + 7) // 8 or 1), "big") & ((1 << bits) - 1)
            if x < n:
                return x


def _bernoulli(p: Fraction, rng: Rng | None = None) -> bool:
    """True with probability p (0 <= p <= 1), exactly."""
    return (rng or secrets.randbelow)(p.denominator) < p.numerator


def _bernoulli_exp_small(gamma: Fraction, rng: Rng | None = None) -> bool:
    """True with probability exp(-gamma), for 0 <= gamma <= 1 (CKS Algorithm 1, first part)."""
    k = 1
    while _bernoulli(gamma / k, rng):
        k += 1
    return k % 2 == 1


def bernoulli_exp(gamma: Fraction, rng: Rng | None = None) -> bool:
    """True with probability exp(-gamma), for any gamma >= 0."""
    if gamma < 0:
        raise ValueError("gamma must be at least 0")
    while gamma > 1:
        if not _bernoulli_exp_small(Fraction(1), rng):
            return False
        gamma -= 1
    return _bernoulli_exp_small(gamma, rng)


def discrete_laplace(scale: Fraction, rng: Rng | None = None) -> int:
    """One draw X with P(X = x) ∝ exp(-|x| / scale) (CKS Algorithm 2, with scale = t / s).

    rng is a randbelow (default `secrets.randbelow`; a Stream for a release's stored-once noise).
    """
    if scale <= 0:
        raise ValueError("scale must be positive")
    t, s = scale.numerator, scale.denominator
    while True:
        u = (rng or secrets.randbelow)(t)
        if not bernoulli_exp(Fraction(u, t), rng):
            continue
        v = 0
        while bernoulli_exp(Fraction(1), rng):
            v += 1
        y = (u + t * v) // s
        negative = (rng or secrets.randbelow)(2) == 1
        if negative and y == 0:
            continue  # keeps zero from being counted twice
        return -y if negative else y


def scale_for(epsilon: Fraction, sensitivity: int) -> Fraction:
    """The scale that makes a query of this sensitivity epsilon-DP."""
    if epsilon <= 0 or sensitivity < 1:
        raise ValueError("epsilon must be positive and sensitivity at least 1")
    return Fraction(sensitivity) / epsilon
