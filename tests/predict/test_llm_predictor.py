"""The LLM model through the sandbox's OpenAI server: structured output, bad output, 429s, timeouts, budget."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import select

from shared.jobs.service import JobCounts
from shared.market_calendar import KST
from shared.news.models import News, NewsStock
from shared.predictions.models import ModelConfig, ModelKind, Prediction, PredictionStatus
from shared.predictions.predictors import TransientModelError
from shared.predictions.service import ensure_default_models
from shared.predictions.workflow import PredictWork, predict_batch

TARGET, AS_OF = date(2024, 1, 8), date(2024, 1, 5)
CHAT = "/v1/chat/completions"


@pytest.fixture
def llm_model(sandbox: Any, seed_market: Callable[..., Any], db_session: Any, redis_client: Any) -> ModelConfig:
    seed_market()
    for index, title in enumerate(["삼성전자 실적 호조에 목표가 상향", "삼성전자 외국인 순매수 지속"]):
        item = News(
            url=f"https://press.example/{index}",
            title=title,
            summary=title,
            source="press.example",
            published_at=datetime(2024, 1, 5, 9 + index, tzinfo=KST),
        )
        db_session.add(item)
        db_session.flush()
        db_session.add(NewsStock(news_id=item.id, stock_code="005930"))
    ensure_default_models(db_session=db_session, chat_model="gpt-4o")
    db_session.commit()
    return db_session.scalars(select(ModelConfig).where(ModelConfig.kind == ModelKind.LLM)).one()


def _work(model: ModelConfig, codes: tuple[str, ...] = ("005930",)) -> PredictWork:
    return PredictWork(target_date=TARGET, as_of_date=AS_OF, model_config_id=model.id, stock_codes=list(codes))


def _stored(db_session: Any) -> list[Prediction]:
    db_session.expire_all()
    return list(db_session.scalars(select(Prediction).order_by(Prediction.stock_code)))


def test_structured_output_is_stored_with_tokens_cost_and_evidence(
    llm_model: ModelConfig, sandbox: Any, db_session: Any
) -> None:
    counts = JobCounts()
    predict_batch(_work(llm_model, ("005930", "000660")), counts)

    rows = _stored(db_session)
    assert [row.status for row in rows] == [PredictionStatus.OK, PredictionStatus.OK]
    samsung = next(row for row in rows if row.stock_code == "005930")
    assert samsung.prompt_version == "v1"
    assert samsung.prompt_tokens > 0 and samsung.completion_tokens > 0 and samsung.cost_usd > 0
    news_ids = set(db_session.scalars(select(News.id)))
    assert samsung.evidence_news_ids and set(samsung.evidence_news_ids) <= news_ids
    assert 0 <= (samsung.probability or -1) <= 1 and samsung.rationale
    assert counts["tokens"] > 0 and counts["cost_microusd"] > 0
    assert sum(1 for method, path in sandbox.requests if path == CHAT) == 2


def test_malformed_output_is_retried_once(llm_model: ModelConfig, sandbox: Any, db_session: Any) -> None:
    sandbox.inject_fault(CHAT, body="malformed", times=1)
    predict_batch(_work(llm_model), JobCounts())
    [row] = _stored(db_session)
    assert row.status == PredictionStatus.OK
    assert sum(1 for _, path in sandbox.requests if path == CHAT) == 2


def test_output_still_invalid_after_the_retry_is_a_failed_prediction(
    llm_model: ModelConfig, sandbox: Any, db_session: Any
) -> None:
    sandbox.inject_fault(CHAT, body="malformed", times=2)
    counts = JobCounts()
    predict_batch(_work(llm_model), counts)
    [row] = _stored(db_session)
    assert row.status == PredictionStatus.FAILED
    assert row.error and "invalid model output after 2 attempts" in row.error and "not JSON" in row.error
    assert row.prompt_tokens > 0  # what the failed attempts cost is still counted
    assert counts["failed_predictions"] == 1


def test_rate_limits_are_retried_with_backoff(llm_model: ModelConfig, sandbox: Any, db_session: Any) -> None:
    sandbox.inject_fault(
        CHAT,
        status=429,
        body={
            "error": {"message": "Rate limit reached", "type": "requests", "param": None, "code": "rate_limit_exceeded"}
        },
        headers={"retry-after-ms": "10"},
        times=2,
    )
    predict_batch(_work(llm_model), JobCounts())
    [row] = _stored(db_session)
    assert row.status == PredictionStatus.OK


def test_rate_limit_that_outlasts_retries_fails_the_message_and_stores_nothing(
    llm_model: ModelConfig, sandbox: Any, db_session: Any, settings_env: Callable[..., Any]
) -> None:
    settings_env(**sandbox.env(), HTTP_MAX_ATTEMPTS="1")
    sandbox.inject_fault(
        CHAT,
        status=429,
        headers={"retry-after-ms": "10"},
        times=10,
        body={
            "error": {"message": "Rate limit reached", "type": "requests", "param": None, "code": "rate_limit_exceeded"}
        },
    )
    with pytest.raises(TransientModelError):
        predict_batch(_work(llm_model), JobCounts())
    assert _stored(db_session) == []  # redelivery will try again; nothing half-written


def test_insufficient_quota_is_not_retried_forever(
    llm_model: ModelConfig, sandbox: Any, db_session: Any, settings_env: Callable[..., Any]
) -> None:
    settings_env(**sandbox.env(), HTTP_MAX_ATTEMPTS="1")  # the SDK's own 429 retries are not under test here
    sandbox.inject_fault(
        CHAT,
        status=429,
        times=10,
        body={
            "error": {
                "message": "You exceeded your current quota",
                "type": "insufficient_quota",
                "param": None,
                "code": "insufficient_quota",
            }
        },
    )
    predict_batch(_work(llm_model), JobCounts())
    [row] = _stored(db_session)
    assert row.status == PredictionStatus.FAILED and "RateLimitError" in (row.error or "")


def test_timeouts_fail_the_message(
    llm_model: ModelConfig, sandbox: Any, db_session: Any, settings_env: Callable[..., Any]
) -> None:
    settings_env(**sandbox.env(), HTTP_MAX_ATTEMPTS="1", HTTP_TIMEOUT_SECONDS="0.05")
    sandbox.inject_fault(CHAT, delay=1.0, times=4)
    with pytest.raises(TransientModelError):
        predict_batch(_work(llm_model), JobCounts())
    assert _stored(db_session) == []


def test_daily_budget_stops_llm_work_cleanly(
    llm_model: ModelConfig, sandbox: Any, db_session: Any, settings_env: Callable[..., Any]
) -> None:
    settings_env(**sandbox.env(), LLM_DAILY_BUDGET_USD="0")
    counts = JobCounts()
    assert predict_batch(_work(llm_model), counts) == []
    assert counts["skipped_budget"] == 1
    assert not any(path == CHAT for _, path in sandbox.requests)


def test_a_redelivered_batch_does_not_call_the_model_again(
    llm_model: ModelConfig, sandbox: Any, db_session: Any
) -> None:
    predict_batch(_work(llm_model), JobCounts())
    calls = sum(1 for _, path in sandbox.requests if path == CHAT)
    counts = JobCounts()
    predict_batch(_work(llm_model), counts)
    assert sum(1 for _, path in sandbox.requests if path == CHAT) == calls
    assert counts["already_predicted"] == 1
