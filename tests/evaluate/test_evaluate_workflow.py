"""Evaluate against real Postgres: hand-computed scores, roll-up, idempotent and incremental re-runs,
corrected closes, cache invalidation."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select, update

from shared.abtest.models import AbTest, AbTestStatus, AbVariant
from shared.evaluation.models import DailyPerformance, Evaluation
from shared.evaluation.workflow import run_evaluation
from shared.events import ScheduledJob
from shared.predictions.models import Direction, ModelConfig, ModelKind, Prediction, PredictionStatus
from shared.stocks.models import DailyPrice
from shared.stores.redis import cached_json

AS_OF, TARGET = date(2024, 1, 4), date(2024, 1, 5)
NEXT_DAY = date(2024, 1, 8)  # the trading day after TARGET
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


def _correct_close(db_session: Any, code: str, day: date, close: int) -> None:
    """What a re-crawl of a day with a corrected close does to daily_prices."""
    db_session.execute(update(DailyPrice).where(DailyPrice.code == code, DailyPrice.date == day).values(close=close))
    db_session.commit()


def _performance(db_session: Any, model: ModelConfig, day: date = TARGET) -> DailyPerformance:
    db_session.expire_all()
    return db_session.scalars(
        select(DailyPerformance).where(
            DailyPerformance.model_config_id == model.id,
            DailyPerformance.date == day,
            DailyPerformance.ab_variant_id.is_(None),
        )
    ).one()


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

    assert _evaluate().counts["evaluated"] == 3
    first = snapshot()
    assert _evaluate().counts["evaluated"] == 3  # the day's own are re-scored, to the same numbers
    assert snapshot() == first
    assert len(first[0]) == 3 and len(first[1]) == 1


def test_rerunning_a_day_after_a_corrected_close_rescores_it(
    seed_market: Callable[..., Any], db_session: Any, redis_client: Any
) -> None:
    market = seed_market()  # 005930 rises into TARGET
    model = _model(db_session, "corrected")
    call = _predict(db_session, model, "005930", Direction.UP, 0.7)
    db_session.commit()
    _evaluate()
    assert _performance(db_session, model).hits == 1

    previous = market.closes[("005930", AS_OF)]
    _correct_close(db_session, "005930", TARGET, previous - 1_000)  # it fell after all
    result = _evaluate()

    assert result.counts["evaluated"] == 1
    db_session.expire_all()
    evaluation = db_session.get(Evaluation, call.id)
    ret = (previous - 1_000) / previous - 1
    assert (evaluation.actual_close, evaluation.realized_direction) == (previous - 1_000, Direction.DOWN)
    assert not evaluation.correct
    assert evaluation.actual_return == pytest.approx(ret)
    assert evaluation.brier == pytest.approx(0.49)
    assert evaluation.strategy_return == pytest.approx(ret - COST)
    performance = _performance(db_session, model)
    assert (performance.n, performance.hits) == (1, 0)
    assert performance.mean_strategy_return == pytest.approx(ret - COST)
    assert performance.cumulative_strategy_return == pytest.approx(ret - COST)


def test_a_later_run_rescores_only_what_a_corrected_close_changed(
    seed_market: Callable[..., Any], db_session: Any, redis_client: Any
) -> None:
    market = seed_market(end=NEXT_DAY)
    model = _model(db_session, "later")
    corrected = _predict(db_session, model, "005930", Direction.UP, 0.7)
    untouched = [
        _predict(db_session, model, "000660", Direction.UP, 0.6),
        _predict(db_session, model, "035420", Direction.DOWN, 0.6),
    ]
    db_session.commit()
    _evaluate()
    before = {row.prediction_id: row.evaluated_at for row in db_session.scalars(select(Evaluation))}

    # The as-of close of one call is corrected after TARGET was evaluated: the next day's run
    # re-scores that call (it has no predictions of its own) and rolls TARGET up again whole.
    actual = market.closes[("005930", TARGET)]
    _correct_close(db_session, "005930", AS_OF, actual + 2_000)
    result = _evaluate(NEXT_DAY)

    assert result.counts["evaluated"] == 1
    assert result.counts["performance_rows"] == 1
    db_session.expire_all()
    evaluation = db_session.get(Evaluation, corrected.id)
    ret = actual / (actual + 2_000) - 1
    assert evaluation.previous_close == actual + 2_000
    assert not evaluation.correct and evaluation.realized_direction == Direction.DOWN
    assert evaluation.evaluated_at > before[corrected.id]
    for call in untouched:
        assert db_session.get(Evaluation, call.id).evaluated_at == before[call.id]
    performance = _performance(db_session, model)
    assert (performance.n, performance.hits) == (3, 2)  # the two untouched calls still count
    others = sum(db_session.get(Evaluation, call.id).strategy_return for call in untouched)
    assert performance.mean_strategy_return == pytest.approx((ret - COST + others) / 3)

    assert _evaluate(NEXT_DAY).counts["evaluated"] == 0  # nothing changed since


def test_late_calls_for_an_evaluated_day_are_added_to_its_roll_up(
    seed_market: Callable[..., Any], db_session: Any, redis_client: Any
) -> None:
    seed_market(end=NEXT_DAY)  # 005930 and 000660 rise, 035420 falls
    model = _model(db_session, "late-calls")
    _predict(db_session, model, "005930", Direction.UP, 0.8)
    db_session.commit()
    _evaluate()
    assert _performance(db_session, model).n == 1

    _predict(db_session, model, "035420", Direction.UP, 0.6)  # stored after TARGET was evaluated
    db_session.commit()
    result = _evaluate(NEXT_DAY)

    assert result.counts["evaluated"] == 1  # the late call only, not TARGET's again
    assert result.details["dates_rolled_up"] == [TARGET.isoformat()]
    performance = _performance(db_session, model)
    assert (performance.n, performance.hits, performance.hit_rate) == (2, 1, 0.5)
    assert performance.brier == pytest.approx(((0.8 - 1) ** 2 + 0.6**2) / 2)
    assert sum(bin_["n"] for bin_ in performance.calibration) == 2


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
