"""Evaluate against real Postgres: hand-computed scores, roll-up, idempotent re-runs, cache invalidation."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from shared.abtest.models import AbTest, AbTestStatus, AbVariant
from shared.evaluation.models import DailyPerformance, Evaluation
from shared.evaluation.workflow import run_evaluation
from shared.events import ScheduledJob
from shared.predictions.models import Direction, ModelConfig, ModelKind, Prediction, PredictionStatus
from shared.stores.redis import cached_json

AS_OF, TARGET = date(2024, 1, 4), date(2024, 1, 5)
COST = 2 * 0.00015 + 0.0018


def _model(db_session: Any, name: str) -> ModelConfig:
    model = ModelConfig(name=name, kind=ModelKind.BASELINE, provider="momentum", model_id=name, params={})
    db_session.add(model)
    db_session.flush()
    return model


def _predict(
    db_session: Any,
    model: ModelConfig,
    code: str,
    direction: Direction,
    probability: float,
    variant: AbVariant | None = None,
    status: PredictionStatus = PredictionStatus.OK,
) -> Prediction:
    prediction = Prediction(
        stock_code=code,
        model_config_id=model.id,
        ab_variant_id=variant.id if variant else None,
        as_of_date=AS_OF,
        target_date=TARGET,
        status=status,
        direction=direction if status == PredictionStatus.OK else None,
        probability=probability if status == PredictionStatus.OK else None,
        expected_return=0.0,
    )
    db_session.add(prediction)
    db_session.flush()
    return prediction


def _evaluate(day: date = TARGET) -> Any:
    return run_evaluation(ScheduledJob(job="run", date=day))


def test_scores_match_hand_computation(seed_market: Callable[..., Any], db_session: Any, redis_client: Any) -> None:
    market = seed_market()  # 005930 closes +600/day; 035420 −700/day
    model = _model(db_session, "hand")
    up_right = _predict(db_session, model, "005930", Direction.UP, 0.7)
    down_wrong = _predict(db_session, model, "000660", Direction.DOWN, 0.6)
    failed = _predict(db_session, model, "035420", Direction.UP, 0.5, status=PredictionStatus.FAILED)
    db_session.commit()

    result = _evaluate()
    assert result.counts["evaluated"] == 2

    previous, actual = market.closes[("005930", AS_OF)], market.closes[("005930", TARGET)]
    ret = actual / previous - 1
    first = db_session.get(Evaluation, up_right.id)
    assert (first.previous_close, first.actual_close) == (previous, actual)
    assert first.actual_return == pytest.approx(ret)
    assert first.realized_direction == Direction.UP and first.correct
    assert first.brier == pytest.approx((0.7 - 1) ** 2)
    assert first.log_loss == pytest.approx(-math.log(0.7))
    assert first.strategy_return == pytest.approx(ret - COST)

    ret2 = market.closes[("000660", TARGET)] / market.closes[("000660", AS_OF)] - 1
    second = db_session.get(Evaluation, down_wrong.id)
    assert not second.correct
    assert second.brier == pytest.approx(0.36)
    assert second.log_loss == pytest.approx(-math.log(0.4))
    assert second.strategy_return == pytest.approx(-ret2 - COST)
    assert db_session.get(Evaluation, failed.id) is None  # failed calls are not scored

    perf = db_session.scalars(select(DailyPerformance).where(DailyPerformance.model_config_id == model.id)).one()
    assert (perf.n, perf.hits, perf.hit_rate) == (2, 1, 0.5)
    # Wilson for 1/2: centre = (.5 + .9604) / 2.9208 = .5, margin = 1.96*sqrt(.125 + .2401)/2.9208
    margin = 1.96 * math.sqrt(0.125 + 3.8416 / 16) / (1 + 3.8416 / 2)
    assert perf.hit_rate_low == pytest.approx(0.5 - margin)
    assert perf.hit_rate_high == pytest.approx(0.5 + margin)
    assert perf.brier == pytest.approx((0.09 + 0.36) / 2)
    mean = ((ret - COST) + (-ret2 - COST)) / 2
    assert perf.mean_strategy_return == pytest.approx(mean)
    assert perf.cumulative_strategy_return == pytest.approx(mean)
    assert sum(bin_["n"] for bin_ in perf.calibration) == 2


def test_rerunning_a_day_rewrites_the_same_numbers(
    seed_market: Callable[..., Any], db_session: Any, redis_client: Any
) -> None:
    seed_market()
    model = _model(db_session, "rerun")
    for code, direction in (("005930", Direction.UP), ("000660", Direction.UP), ("035420", Direction.DOWN)):
        _predict(db_session, model, code, direction, 0.65)
    db_session.commit()

    def snapshot() -> tuple[list[Any], list[Any]]:
        db_session.expire_all()
        evaluations = db_session.execute(
            select(Evaluation.prediction_id, Evaluation.correct, Evaluation.brier, Evaluation.strategy_return).order_by(
                Evaluation.prediction_id
            )
        ).all()
        performance = db_session.execute(
            select(
                DailyPerformance.id,
                DailyPerformance.n,
                DailyPerformance.hits,
                DailyPerformance.brier,
                DailyPerformance.cumulative_strategy_return,
            ).order_by(DailyPerformance.id)
        ).all()
        return evaluations, performance

    _evaluate()
    first = snapshot()
    _evaluate()
    assert snapshot() == first
    assert len(first[0]) == 3 and len(first[1]) == 1


def test_variants_get_their_own_rows(seed_market: Callable[..., Any], db_session: Any, redis_client: Any) -> None:
    seed_market()
    control, challenger = _model(db_session, "control"), _model(db_session, "challenger")
    test = AbTest(name="t", status=AbTestStatus.RUNNING)
    db_session.add(test)
    db_session.flush()
    variant_a = AbVariant(ab_test_id=test.id, name="A", model_config_id=control.id, weight=1)
    variant_b = AbVariant(ab_test_id=test.id, name="B", model_config_id=challenger.id, weight=1)
    db_session.add_all([variant_a, variant_b])
    db_session.flush()
    _predict(db_session, control, "005930", Direction.UP, 0.6, variant_a)
    _predict(db_session, challenger, "000660", Direction.DOWN, 0.6, variant_b)
    db_session.commit()

    _evaluate()
    rows = db_session.execute(
        select(DailyPerformance.model_config_id, DailyPerformance.ab_variant_id, DailyPerformance.n)
    ).all()
    assert sorted(rows, key=lambda row: (row[0], row[1] or 0)) == [
        (control.id, None, 1),
        (control.id, variant_a.id, 1),
        (challenger.id, None, 1),
        (challenger.id, variant_b.id, 1),
    ]


def test_new_results_invalidate_the_dashboard_cache(
    seed_market: Callable[..., Any], db_session: Any, redis_client: Any
) -> None:
    seed_market()
    calls = []

    def compute() -> dict[str, int]:
        calls.append(1)
        return {"n": len(calls)}

    assert cached_json("dashboard", ("summary",), 300, compute) == {"n": 1}
    assert cached_json("dashboard", ("summary",), 300, compute) == {"n": 1}
    _evaluate()
    assert cached_json("dashboard", ("summary",), 300, compute) == {"n": 2}


def test_catches_up_on_older_unevaluated_days(
    seed_market: Callable[..., Any], db_session: Any, redis_client: Any
) -> None:
    seed_market()
    model = _model(db_session, "late")
    _predict(db_session, model, "005930", Direction.UP, 0.6)  # target 2024-01-05
    db_session.commit()
    result = _evaluate(date(2024, 1, 8))  # evaluate runs a trading day later
    assert result.counts["evaluated"] == 1


def test_models_are_compared_with_baselines_on_the_same_stocks_only(
    seed_market: Callable[..., Any], db_session: Any, redis_client: Any
) -> None:
    from shared.evaluation.comparison import compare_with_baselines

    seed_market()  # 005930 and 000660 rise, 035420 falls
    llm = ModelConfig(name="llm", kind=ModelKind.LLM, provider="openai", model_id="gpt-4o", params={})
    db_session.add(llm)
    baseline = _model(db_session, "baseline")
    _predict(db_session, llm, "005930", Direction.UP, 0.8)  # right
    _predict(db_session, llm, "035420", Direction.DOWN, 0.7)  # right
    _predict(db_session, baseline, "005930", Direction.DOWN, 0.6)  # wrong
    _predict(db_session, baseline, "035420", Direction.DOWN, 0.6)  # right
    _predict(db_session, baseline, "000660", Direction.DOWN, 0.6)  # wrong, and the LLM has no call here
    db_session.commit()
    _evaluate()

    [comparison] = compare_with_baselines(db_session=db_session, model_config_id=llm.id, start=TARGET, end=TARGET)
    assert comparison.baseline_name == "baseline"
    assert comparison.n == 2  # 000660 is not a shared call
    assert (comparison.model_hit_rate, comparison.baseline_hit_rate) == (1.0, 0.5)
    assert comparison.hit_rate_lift == 0.5
    assert comparison.model_brier == pytest.approx(((0.8 - 1) ** 2 + (0.7 - 1) ** 2) / 2)
