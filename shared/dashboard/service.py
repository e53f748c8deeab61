"""The dashboard summary: aggregates computed set-based in SQL, cached in Redis as one value.

Evaluate calls `invalidate_namespace("dashboard")` after writing results, so the cache
never outlives the data by more than one evaluation; the TTL bounds it otherwise. A Redis
failure means computing, never an error (`cached_json`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, cast, func, literal, select
from sqlalchemy.orm import Session

from shared.abtest.models import AbTest, AbTestStatus
from shared.config import get_settings
from shared.dashboard.schemas import (
    DashboardCounts,
    DashboardSummary,
    MarketMover,
    MarketMovers,
    ModelPerformance,
    WindowPerformance,
)
from shared.evaluation.models import Evaluation
from shared.evaluation.statistics import wilson_interval
from shared.news.models import News
from shared.predictions import queries as prediction_queries
from shared.predictions.models import Direction, ModelConfig, Prediction, PredictionStatus
from shared.predictions.schemas import PredictionFilters, PredictionSort
from shared.stocks.models import DailyPrice, Stock
from shared.stores.redis import cached_json

CACHE_NAMESPACE = "dashboard"
CACHE_KEY = ("summary", "v1")
PERFORMANCE_WINDOWS = (7, 30, 90)
TOP_SIGNALS = 10
MOVERS = 5


def get_summary(*, db_session: Session) -> dict[str, Any]:
    """The cached summary as JSON-ready data (computed and stored on a miss)."""
    return cached_json(
        CACHE_NAMESPACE,
        CACHE_KEY,
        get_settings().dashboard_cache_seconds,
        lambda: compute_summary(db_session=db_session).model_dump(mode="json"),
    )


def compute_summary(*, db_session: Session) -> DashboardSummary:
    latest_target = db_session.scalar(select(func.max(Prediction.target_date)))
    anchor = _latest_evaluated_target_date(db_session=db_session)
    return DashboardSummary(
        generated_at=datetime.now(UTC),
        latest_target_date=latest_target,
        performance_as_of=anchor,
        counts=_counts(db_session=db_session, latest_target=latest_target),
        top_signals=_top_signals(db_session=db_session, latest_target=latest_target),
        model_performance=_model_performance(db_session=db_session, anchor=anchor),
        market_movers=_market_movers(db_session=db_session),
    )


def _latest_evaluated_target_date(*, db_session: Session) -> date | None:
    return db_session.scalar(
        select(Prediction.target_date)
        .join(Evaluation, Evaluation.prediction_id == Prediction.id)
        .order_by(Prediction.target_date.desc())
        .limit(1)
    )


def _counts(*, db_session: Session, latest_target: date | None) -> DashboardCounts:
    def count_of(statement: Any) -> Any:
        return statement.scalar_subquery()

    predictions_latest_day = (
        select(func.count()).select_from(Prediction).where(Prediction.target_date == latest_target)
        if latest_target is not None
        else select(literal(0))
    )
    row = db_session.execute(
        select(
            count_of(select(func.count()).select_from(Stock).where(Stock.active.is_(True))).label("stocks_active"),
            count_of(
                select(func.count()).select_from(Stock).where(Stock.active.is_(True), Stock.watched.is_(True))
            ).label("stocks_watched"),
            count_of(select(func.count()).select_from(ModelConfig).where(ModelConfig.active.is_(True))).label(
                "models_active"
            ),
            count_of(select(func.count()).select_from(AbTest).where(AbTest.status == AbTestStatus.RUNNING)).label(
                "ab_tests_running"
            ),
            count_of(select(func.count()).select_from(Prediction)).label("predictions_total"),
            count_of(predictions_latest_day).label("predictions_latest_day"),
            count_of(select(func.count()).select_from(Evaluation)).label("evaluations_total"),
            count_of(
                select(func.count())
                .select_from(Prediction)
                .outerjoin(Evaluation, Evaluation.prediction_id == Prediction.id)
                .where(Prediction.status == PredictionStatus.OK, Evaluation.prediction_id.is_(None))
            ).label("awaiting_evaluation"),
            count_of(select(func.count()).select_from(News)).label("news_total"),
        )
    ).one()
    return DashboardCounts.model_validate({key: int(value or 0) for key, value in row._mapping.items()})


def _top_signals(*, db_session: Session, latest_target: date | None) -> list[Any]:
    if latest_target is None:
        return []
    rows, _ = prediction_queries.list_predictions(
        db_session=db_session,
        filters=PredictionFilters(target_from=latest_target, target_to=latest_target, status=PredictionStatus.OK),
        sort=PredictionSort.PROBABILITY_DESC,
        limit=TOP_SIGNALS * 3,
        offset=0,
    )
    # A "flat" call is not a signal anyone acts on.
    return [row for row in rows if row["direction"] != Direction.FLAT][:TOP_SIGNALS]


def _model_performance(*, db_session: Session, anchor: date | None) -> list[ModelPerformance]:
    if anchor is None:
        return []
    columns: list[Any] = []
    for days in PERFORMANCE_WINDOWS:
        in_window = Prediction.target_date > anchor - timedelta(days=days)
        columns += [
            func.count().filter(in_window).label(f"n_{days}"),
            func.coalesce(func.sum(cast(Evaluation.correct, Integer)).filter(in_window), 0).label(f"hits_{days}"),
            func.avg(Evaluation.brier).filter(in_window).label(f"brier_{days}"),
        ]
    rows = db_session.execute(
        select(ModelConfig.id, ModelConfig.name, ModelConfig.is_champion, *columns)
        .select_from(Evaluation)
        .join(Prediction, Prediction.id == Evaluation.prediction_id)
        .join(ModelConfig, ModelConfig.id == Prediction.model_config_id)
        .where(Prediction.target_date > anchor - timedelta(days=max(PERFORMANCE_WINDOWS)))
        .where(Prediction.target_date <= anchor)
        .group_by(ModelConfig.id, ModelConfig.name, ModelConfig.is_champion)
        .order_by(ModelConfig.is_champion.desc(), ModelConfig.name, ModelConfig.id)
    ).all()
    performance = []
    for row in rows:
        values = row._mapping
        windows = [
            window_performance(
                days=days,
                n=int(values[f"n_{days}"]),
                hits=int(values[f"hits_{days}"]),
                brier=values[f"brier_{days}"],
            )
            for days in PERFORMANCE_WINDOWS
        ]
        performance.append(
            ModelPerformance(model_config_id=row.id, model_name=row.name, is_champion=row.is_champion, windows=windows)
        )
    return performance


def window_performance(*, days: int, n: int, hits: int, brier: float | None) -> WindowPerformance:
    if n == 0:
        return WindowPerformance(
            days=days, n=0, hits=0, hit_rate=None, hit_rate_low=None, hit_rate_high=None, brier=None
        )
    low, high = wilson_interval(hits, n)
    return WindowPerformance(
        days=days,
        n=n,
        hits=hits,
        hit_rate=hits / n,
        hit_rate_low=low,
        hit_rate_high=high,
        brier=float(brier) if brier is not None else None,
    )


def _market_movers(*, db_session: Session) -> MarketMovers:
    latest_day = db_session.scalar(select(func.max(DailyPrice.date)))
    if latest_day is None:
        return MarketMovers(date=None, gainers=[], losers=[], most_traded=[])
    base = (
        select(
            Stock.code,
            Stock.name,
            Stock.market,
            DailyPrice.close,
            DailyPrice.change,
            DailyPrice.change_rate,
            DailyPrice.value,
        )
        .join(Stock, Stock.code == DailyPrice.code)
        .where(DailyPrice.date == latest_day, Stock.active.is_(True))
    )

    def movers(*order_by: Any, where: Any = None) -> list[MarketMover]:
        statement = base if where is None else base.where(where)
        rows = db_session.execute(statement.order_by(*order_by, Stock.code).limit(MOVERS)).all()
        return [MarketMover.model_validate(row._mapping) for row in rows]

    return MarketMovers(
        date=latest_day,
        gainers=movers(DailyPrice.change_rate.desc(), where=DailyPrice.change_rate > 0),
        losers=movers(DailyPrice.change_rate.asc(), where=DailyPrice.change_rate < 0),
        most_traded=movers(DailyPrice.value.desc()),
    )
