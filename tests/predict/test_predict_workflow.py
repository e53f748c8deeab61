"""The predict workflow against real Postgres/Redis/Milvus Lite: baselines, idempotence, no look-ahead."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from shared.events import ScheduledJob
from shared.jobs.models import JobRun, JobStatus
from shared.market_calendar import KST
from shared.news.models import News, NewsStock
from shared.predictions.inputs import gather_input, price_histories
from shared.predictions.models import Direction, ModelConfig, Prediction, PredictionStatus
from shared.predictions.predictors import PredictionOutcome
from shared.predictions.service import PredictionRecord, ensure_default_models, store_predictions
from shared.predictions.workflow import schedule_predictions
from shared.stocks.models import Stock

TARGET = date(2024, 1, 8)  # a Monday; the as-of close is Friday 2024-01-05


def _run(day: date = TARGET) -> Any:
    return schedule_predictions(ScheduledJob(job="run", date=day))


def test_inline_run_predicts_every_active_stock_with_every_baseline(
    seed_market: Callable[..., Any], db_session: Any, redis_client: Any
) -> None:
    seed_market()
    result = _run()

    assert result.status == JobStatus.SUCCEEDED
    rows = db_session.scalars(select(Prediction).order_by(Prediction.stock_code, Prediction.model_config_id)).all()
    models = {model.id: model for model in db_session.scalars(select(ModelConfig))}
    assert {models[row.model_config_id].name for row in rows} == {"momentum-5d", "news-sentiment", "base-rate"}
    assert len(rows) == 9
    assert all(row.as_of_date == date(2024, 1, 5) and row.target_date == TARGET for row in rows)
    # No OpenAI key in tests: the LLM model is skipped, and says so.
    assert result.counts["skipped_llm_disabled"] == 3
    momentum = {row.stock_code: row for row in rows if models[row.model_config_id].name == "momentum-5d"}
    assert momentum["005930"].direction == Direction.UP  # closes rise 600 a day
    assert momentum["035420"].direction == Direction.DOWN  # closes fall 700 a day
    assert all(row.status == PredictionStatus.OK for row in rows)


def test_rerun_changes_nothing(seed_market: Callable[..., Any], db_session: Any, redis_client: Any) -> None:
    seed_market()
    _run()
    before = db_session.execute(select(Prediction.id, Prediction.direction, Prediction.probability)).all()
    again = _run()
    after = db_session.execute(select(Prediction.id, Prediction.direction, Prediction.probability)).all()
    assert sorted(before) == sorted(after)
    assert again.counts["already_predicted"] == 9
    assert again.counts.get("inserted", 0) == 0
    assert db_session.scalar(select(func.count()).select_from(JobRun).where(JobRun.function == "predict")) == 2


def test_non_trading_day_is_skipped(seed_market: Callable[..., Any], db_session: Any, redis_client: Any) -> None:
    seed_market()
    result = _run(date(2024, 1, 6))  # Saturday
    assert result.counts["skipped_non_trading_day"] == 1
    assert db_session.scalar(select(func.count()).select_from(Prediction)) == 0


def test_insufficient_history_is_stored_as_a_failed_prediction(
    seed_market: Callable[..., Any], db_session: Any, redis_client: Any
) -> None:
    seed_market(start=date(2024, 1, 3), end=date(2024, 1, 5))  # three closes only
    _run()
    failed = db_session.scalars(select(Prediction).join(ModelConfig).where(ModelConfig.name == "momentum-5d")).all()
    assert failed and all(row.status == PredictionStatus.FAILED for row in failed)
    assert all("insufficient price history" in (row.error or "") for row in failed)


def _news(db_session: Any, *, url: str, title: str, published_at: datetime, code: str) -> News:
    item = News(url=url, title=title, summary=title, source="test", published_at=published_at)
    db_session.add(item)
    db_session.flush()
    db_session.add(NewsStock(news_id=item.id, stock_code=code))
    db_session.commit()
    return item


@pytest.mark.parametrize("vectors", ["milvus", "unavailable"])
def test_news_published_after_the_cutoff_is_never_retrieved(
    vectors: str,
    seed_market: Callable[..., Any],
    db_session: Any,
    redis_client: Any,
    settings_env: Callable[..., Any],
) -> None:
    seed_market()
    before = _news(
        db_session,
        url="https://press.example/1",
        title="삼성전자 실적 호조 기대감",
        published_at=datetime(2024, 1, 8, 7, 30, tzinfo=KST),
        code="005930",
    )
    after = _news(
        db_session,
        url="https://press.example/2",
        title="삼성전자 장중 급등 신고가 돌파 호재",
        published_at=datetime(2024, 1, 8, 10, 0, tzinfo=KST),
        code="005930",
    )
    if vectors == "milvus":
        from shared.llm.embeddings import get_embedder
        from shared.stores.milvus import NewsVector, get_news_store

        embedder = get_embedder()
        store = get_news_store(embedder.name, embedder.dimension)
        texts = [before.title, after.title]
        store.upsert(
            [
                NewsVector(item.id, vector, ["005930"], item.published_at)
                for item, vector in zip([before, after], embedder.embed(texts), strict=True)
            ]
        )
    else:
        settings_env(MILVUS_URI="http://127.0.0.1:1")

    stock = db_session.get(Stock, "005930")
    prediction_input = gather_input(
        db_session=db_session,
        stock=stock,
        as_of_date=date(2024, 1, 5),
        target_date=TARGET,
        history_days=20,
        news_k=5,
    )
    assert [item.news_id for item in prediction_input.news] == [before.id]
    assert prediction_input.retrieval_method == ("vector" if vectors == "milvus" else "recent")
    assert prediction_input.prices[-1].day == date(2024, 1, 5)  # nothing from the target day itself


def test_price_histories_are_oldest_first_per_stock_and_stop_at_the_as_of_day(
    seed_market: Callable[..., Any], db_session: Any
) -> None:
    market = seed_market()
    histories = price_histories(
        db_session=db_session, codes=["005930", "035420", "999999"], until=date(2024, 1, 4), limit=3
    )

    expected_days = [day for day in market.days if day <= date(2024, 1, 4)][-3:]
    for code in ("005930", "035420"):
        assert [point.day for point in histories[code]] == expected_days
        assert [point.close for point in histories[code]] == [market.closes[(code, day)] for day in expected_days]
        assert all(type(point.day) is date for point in histories[code])
    assert histories["999999"] == []
    assert price_histories(db_session=db_session, codes=[], until=date(2024, 1, 4), limit=3) == {}


def _record(code: str, model_id: int, *, ok: bool) -> PredictionRecord:
    outcome = PredictionOutcome(Direction.UP, 0.8, 0.01, "up", [7], "v1", 100, 20, Decimal("0.0005")) if ok else None
    return PredictionRecord(
        stock_code=code,
        model_config_id=model_id,
        ab_variant_id=None,
        as_of_date=date(2024, 1, 5),
        target_date=TARGET,
        outcome=outcome,
        error=None if ok else "invalid model output",
        prompt_version="v1",
        prompt_tokens=100,
        completion_tokens=0 if ok else 5,
        cost_usd=Decimal("0.0005") if ok else Decimal("0.0001"),
    )


def test_a_batch_of_predictions_is_one_insert_and_a_second_store_inserts_only_what_is_new(
    seed_market: Callable[..., Any], db_session: Any
) -> None:
    from sqlalchemy import event

    from shared.db.session import get_engine

    seed_market()
    ensure_default_models(db_session=db_session, chat_model="gpt-4o")
    model_id = db_session.scalar(select(ModelConfig.id).where(ModelConfig.name == "gpt-4o-rag"))
    inserts: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            inserts.append(statement)

    event.listen(get_engine(), "before_cursor_execute", count)
    try:
        first = store_predictions(
            db_session=db_session,
            records=[_record("005930", model_id, ok=True), _record("000660", model_id, ok=False)],
        )
        second = store_predictions(
            db_session=db_session,
            records=[_record("005930", model_id, ok=False), _record("035420", model_id, ok=True)],
        )
        db_session.commit()
    finally:
        event.remove(get_engine(), "before_cursor_execute", count)

    assert len(inserts) == 2  # one statement per batch, rows with and without an outcome together
    assert sorted(row.stock_code for row in first) == ["000660", "005930"]
    assert [row.stock_code for row in second] == ["035420"]  # 005930 was there: left as it was
    rows = {row.stock_code: row for row in db_session.scalars(select(Prediction))}
    assert rows["005930"].status == PredictionStatus.OK and rows["005930"].direction == Direction.UP
    assert rows["005930"].evidence_news_ids == [7] and rows["005930"].cost_usd == Decimal("0.0005")
    failed = rows["000660"]
    assert failed.status == PredictionStatus.FAILED and failed.direction is None and failed.probability is None
    assert failed.error == "invalid model output" and failed.completion_tokens == 5 and failed.rationale == ""


def test_storing_predictions_invalidates_the_api_list_totals(
    seed_market: Callable[..., Any], db_session: Any, redis_client: Any
) -> None:
    from shared.predictions import list_totals
    from shared.stores.redis import cache_key

    seed_market()
    before = cache_key(list_totals.NAMESPACE, "probe")
    _run()
    after_first = cache_key(list_totals.NAMESPACE, "probe")
    assert after_first != before  # new predictions: cached totals are stale
    _run()  # nothing new stored: the cache stays valid
    assert cache_key(list_totals.NAMESPACE, "probe") == after_first
