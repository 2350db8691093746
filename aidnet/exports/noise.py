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

import secrets
from fractions import Fraction


def _bernoulli(p: Fraction) -> bool:
    """True with probability p (0 <= p <= 1), exactly."""
    return secrets.randbelow(p.denominator) < p.numerator


def _bernoulli_exp_small(gamma: Fraction) -> bool:
    """True with probability exp(-gamma), for 0 <= gamma <= 1 (CKS Algorithm 1, first part)."""
    k = 1
    while _bernoulli(gamma / k):
        k += 1
    return k % 2 == 1


def bernoulli_exp(gamma: Fraction) -> bool:
    """True with probability exp(-gamma), for any gamma >= 0."""
    if gamma < 0:
        raise ValueError("gamma must be at least 0")
    while gamma > 1:
        if not _bernoulli_exp_small(Fraction(1)):
            return False
        gamma -= 1
    return _bernoulli_exp_small(gamma)


def discrete_laplace(scale: Fraction) -> int:
    """One draw X with P(X = x) ∝ exp(-|x| / scale) (CKS Algorithm 2, with scale = t / s)."""
    if scale <= 0:
        raise ValueError("scale must be positive")
    t, s = scale.numerator, scale.denominator
    while True:
        u = secrets.randbelow(t)
        if not bernoulli_exp(Fraction(u, t)):
            continue
        v = 0
        while bernoulli_exp(Fraction(1)):
            v += 1
        y = (u + t * v) // s
        negative = secrets.randbelow(2) == 1
        if negative and y == 0:
            continue  # keeps zero from being counted twice
        return -y if negative else y


def scale_for(epsilon: Fraction, sensitivity: int) -> Fraction:
    """The scale that makes a query of this sensitivity epsilon-DP."""
    if epsilon <= 0 or sensitivity < 1:
        raise ValueError("epsilon must be positive and sensitivity at least 1")
    return Fraction(sensitivity) / epsilon
