"""Metric code against small hand-computed cases."""

from __future__ import annotations

import math

import pytest

from shared.evaluation.statistics import (
    brier_score,
    difference_ci,
    log_loss,
    required_sample_size,
    strategy_return,
    two_proportion_ztest,
    wilson_interval,
)


def test_wilson_interval_eight_of_ten() -> None:
    # p = .8, n = 10, z = 1.96: centre = (.8 + .19208) / 1.38416 = .716738,
    # margin = 1.96 * sqrt(.016 + .0096040) / 1.38416 = .226591
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.490160, abs=1e-5)
    assert high == pytest.approx(0.943328, abs=1e-5)


def test_wilson_interval_edges() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(0, 5)
    assert low == 0.0 and 0 < high < 0.5
    low, high = wilson_interval(5, 5)
    assert high == 1.0 and 0.5 < low < 1


def test_two_proportion_ztest_sixty_vs_fifty() -> None:
    # pooled = .55, se = sqrt(.55 * .45 * (1/100 + 1/100)) = .0703562; z = (.5 - .6) / se
    z, p = two_proportion_ztest(60, 100, 50, 100)
    assert z == pytest.approx(-1.421338, abs=1e-5)
    assert p == pytest.approx(0.155218, abs=1e-4)


def test_two_proportion_ztest_degenerate() -> None:
    assert two_proportion_ztest(0, 0, 3, 10) == (0.0, 1.0)
    assert two_proportion_ztest(10, 10, 10, 10) == (0.0, 1.0)


def test_difference_ci() -> None:
    # se = sqrt(.6*.4/100 + .5*.5/100) = .07, difference = -.1
    difference, low, high = difference_ci(60, 100, 50, 100)
    assert difference == pytest.approx(-0.1)
    assert low == pytest.approx(-0.1 - 1.96 * 0.07, abs=1e-9)
    assert high == pytest.approx(-0.1 + 1.96 * 0.07, abs=1e-9)


def test_required_sample_size_textbook_case() -> None:
    # 50% → 55%, alpha .05 two-sided, power .8: the classic answer is 1,565 per group.
    assert required_sample_size(0.5, 0.05, 0.05, 0.8) == 1565
    with pytest.raises(ValueError):
        required_sample_size(0.5, 0, 0.05, 0.8)


def test_required_sample_size_at_the_edges() -> None:
    # 100% and 0% controls: the effect is tested in the direction that has room (symmetric).
    assert required_sample_size(1.0, 0.05, 0.05, 0.8) == required_sample_size(0.0, 0.05, 0.05, 0.8) > 0
    assert required_sample_size(0.97, 0.05, 0.05, 0.8) == required_sample_size(0.03, 0.05, 0.05, 0.8)


def test_brier_and_log_loss() -> None:
    assert brier_score(0.7, True) == pytest.approx(0.09)
    assert brier_score(0.7, False) == pytest.approx(0.49)
    assert log_loss(0.7, True) == pytest.approx(-math.log(0.7))
    assert log_loss(0.7, False) == pytest.approx(-math.log(0.3))
    assert math.isfinite(log_loss(1.0, False))


def test_strategy_return_with_costs() -> None:
    cost = 2 * 0.00015 + 0.0018  # commission both legs + sell tax = .0021
    assert strategy_return("up", 0.02, commission_rate=0.00015, sell_tax_rate=0.0018) == pytest.approx(0.02 - cost)
    assert strategy_return("down", 0.02, commission_rate=0.00015, sell_tax_rate=0.0018) == pytest.approx(-0.02 - cost)
    assert strategy_return("down", -0.03, commission_rate=0.00015, sell_tax_rate=0.0018) == pytest.approx(0.03 - cost)
    assert strategy_return("flat", 0.05, commission_rate=0.00015, sell_tax_rate=0.0018) == 0.0
