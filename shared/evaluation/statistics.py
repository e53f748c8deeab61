"""The statistics behind scores and A/B tests, as pure functions (checked by hand-computed cases).

Standard library only (`statistics.NormalDist`), so evaluate and the api need no SciPy.
"""

from __future__ import annotations

import math
from statistics import NormalDist

_NORMAL = NormalDist()


def wilson_interval(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a hit rate: honest at small n and near 0 or 1, unlike p ± z·se."""
    if n <= 0:
        return (0.0, 1.0)
    p = hits / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - margin), min(1.0, centre + margin))


def two_proportion_ztest(hits_a: int, n_a: int, hits_b: int, n_b: int) -> tuple[float, float]:
    """(z, two-sided p) for H0: equal hit rates, with the pooled standard error."""
    if n_a <= 0 or n_b <= 0:
        return (0.0, 1.0)
    pooled = (hits_a + hits_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if se == 0:
        return (0.0, 1.0)
    z = (hits_b / n_b - hits_a / n_a) / se
    return (z, 2 * (1 - _NORMAL.cdf(abs(z))))


def difference_ci(hits_a: int, n_a: int, hits_b: int, n_b: int, z: float = 1.96) -> tuple[float, float, float]:
    """(difference b − a, low, high) with the unpooled (Wald) standard error."""
    if n_a <= 0 or n_b <= 0:
        return (0.0, -1.0, 1.0)
    p_a, p_b = hits_a / n_a, hits_b / n_b
    se = math.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    difference = p_b - p_a
    return (difference, difference - z * se, difference + z * se)


def required_sample_size(baseline_rate: float, min_detectable_effect: float, alpha: float, power: float) -> int:
    """Per-variant n for a two-sided two-proportion test to detect `min_detectable_effect`."""
    if min_detectable_effect <= 0:
        raise ValueError("min_detectable_effect must be positive")
    p1 = min(max(baseline_rate, 1e-6), 1 - 1e-6)
    # Detect the effect in whichever direction has room (a 100% control can only get worse).
    p2 = p1 + min_detectable_effect if p1 + min_detectable_effect < 1 else p1 - min_detectable_effect
    p2 = min(max(p2, 1e-6), 1 - 1e-6)
    z_alpha = _NORMAL.inv_cdf(1 - alpha / 2)
    z_beta = _NORMAL.inv_cdf(power)
    p_bar = (p1 + p2) / 2
    numerator = (z_alpha * math.sqrt(2 * p_bar * (1 - p_bar)) + z_beta * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2
    return math.ceil(numerator / (p2 - p1) ** 2)


def brier_score(probability: float, correct: bool) -> float:
    """Squared error of the stated probability that the call is right."""
    return (probability - (1.0 if correct else 0.0)) ** 2


def log_loss(probability: float, correct: bool, eps: float = 1e-6) -> float:
    p = min(max(probability, eps), 1 - eps)
    return -math.log(p if correct else 1 - p)


def strategy_return(direction: str, actual_return: float, *, commission_rate: float, sell_tax_rate: float) -> float:
    """Return of acting on a call for one day: long on up, short on down, nothing on flat.

    A round trip pays commission on both legs and the securities transaction tax on the
    sell leg (the closing sale for a long, the opening short sale for a short).
    """
    cost = 2 * commission_rate + sell_tax_rate
    if direction == "up":
        return actual_return - cost
    if direction == "down":
        return -actual_return - cost
    return 0.0
