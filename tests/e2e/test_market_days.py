"""Several real sandbox market days: every model predicts, every call is scored, and an A/B test
between two LLM variants gets both variants scored, with the models compared to the baselines.

The functions run through their handlers with their schedules' events; predict works inline
(no queue configured), which the SQS path in test_walking_skeleton.py covers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any

import pytest
from sqlalchemy import select

from functions.crawl.handler import lambda_handler as crawl
from functions.evaluate.handler import lambda_handler as evaluate
from functions.predict.handler import lambda_handler as predict
from shared.abtest import service as abtest_service
from shared.abtest.models import AbTest, AbTestStatus, AbVariant
from shared.db.models import DailyPerformance, Evaluation, ModelConfig, Prediction, Stock
from shared.market_calendar import KST
from shared.predictions.models import ModelKind, PredictionStatus
from shared.predictions.service import ensure_default_models

pytestmark = pytest.mark.slow

DAYS = (date(2024, 1, 8), date(2024, 1, 9), date(2024, 1, 10))
WATCHED = ("005930", "000660", "035420")


def test_three_days_with_an_ab_test(
    sandbox: Any, settings_env: Callable[..., Any], db_session: Any, redis_client: Any, lambda_context: Any
) -> None:
    settings_env(**sandbox.env(), NEWS_PAGES_PER_STOCK="1")
    sandbox.set_clock(datetime.combine(DAYS[0], time(7, 30), tzinfo=KST))
    assert crawl({"job": "listing", "date": DAYS[0].isoformat()}, lambda_context)["status"] == "succeeded"
    backfill = crawl({"job": "prices", "start": "2023-12-01", "end": "2024-01-05"}, lambda_context)
    assert backfill["status"] == "succeeded"
    db_session.execute(Stock.__table__.update().where(Stock.code.in_(WATCHED)).values(watched=True))

    ensure_default_models(db_session=db_session, chat_model="gpt-4o")
    control = db_session.scalars(select(ModelConfig).where(ModelConfig.name == "gpt-4o-rag")).one()
    challenger = ModelConfig(
        name="gpt-4o-mini-rag",
        kind=ModelKind.LLM,
        provider="openai",
        model_id="gpt-4o-mini",
        prompt_version="v1",
        params={"temperature": 0.2},
    )
    db_session.add(challenger)
    db_session.flush()
    test = AbTest(name="mini-vs-4o", status=AbTestStatus.RUNNING, min_detectable_effect=0.05)
    db_session.add(test)
    db_session.flush()
    db_session.add_all(
        [
            AbVariant(ab_test_id=test.id, name="control", model_config_id=control.id, weight=1),
            AbVariant(ab_test_id=test.id, name="mini", model_config_id=challenger.id, weight=1),
        ]
    )
    db_session.commit()

    results = []
    for day in DAYS:
        sandbox.set_clock(datetime.combine(day, time(8, 0), tzinfo=KST))
        for event in ({"job": "news", "date": day.isoformat()}, {"job": "embed", "date": day.isoformat()}):
            assert crawl(event, lambda_context)["status"] == "succeeded"
        assert predict({"job": "run", "date": day.isoformat()}, lambda_context)["status"] == "succeeded"
        sandbox.set_clock(datetime.combine(day, time(16, 10), tzinfo=KST))
        assert crawl({"job": "prices", "date": day.isoformat()}, lambda_context)["status"] == "succeeded"
        results.append(evaluate({"job": "run", "date": day.isoformat()}, lambda_context))

    db_session.expire_all()
    active = db_session.scalars(select(Stock.code).where(Stock.active)).all()
    models = {model.id: model for model in db_session.scalars(select(ModelConfig))}
    predictions = db_session.scalars(select(Prediction)).all()

    per_day: dict[date, list[Prediction]] = defaultdict(list)
    for prediction in predictions:
        per_day[prediction.target_date].append(prediction)
    assert sorted(per_day) == list(DAYS)
    for day in DAYS:
        # Three baselines for every stock, and exactly one LLM variant per stock.
        assert len(per_day[day]) == len(active) * 4, day

    llm = [row for row in predictions if models[row.model_config_id].kind == ModelKind.LLM]
    assert all(row.ab_variant_id is not None for row in llm)
    variant_of: dict[str, set[int]] = defaultdict(set)
    for row in llm:
        variant_of[row.stock_code].add(row.ab_variant_id or 0)
    assert all(len(variants) == 1 for variants in variant_of.values())  # stable across days
    assert {row.model_config_id for row in llm} == {control.id, challenger.id}

    ok = [row for row in predictions if row.status == PredictionStatus.OK]
    assert db_session.scalar(select(Evaluation.prediction_id).limit(1)) is not None
    assert len(db_session.scalars(select(Evaluation)).all()) == len(ok)

    performance = db_session.scalars(select(DailyPerformance)).all()
    for day in DAYS:
        rows = [row for row in performance if row.date == day]
        overall = {row.model_config_id for row in rows if row.ab_variant_id is None}
        assert overall == set(models), day  # every model, baselines included
        assert len([row for row in rows if row.ab_variant_id is not None]) == 2, day

    [described] = abtest_service.describe(db_session=db_session, tests=[db_session.get(AbTest, test.id)])
    assert [variant.n > 0 for variant in described.variants] == [True, True]
    [comparison] = described.comparisons
    assert comparison.p_value is not None and comparison.required_sample_size is not None

    last = results[-1]
    assert {item["model"] for item in last["versus_baselines"]} == {"gpt-4o-rag", "gpt-4o-mini-rag"}
    assert {item["baseline"] for item in last["versus_baselines"]} == {"momentum-5d", "news-sentiment", "base-rate"}
    assert [summary["ab_test"] for summary in last["ab_tests"]] == ["mini-vs-4o"]
