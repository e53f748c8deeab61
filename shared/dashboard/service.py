"""The dashboard summary: aggregates computed set-based in SQL, cached in Redis as one value.

Evaluate calls `invalidate_namespace("dashboard")` after writing results, so the cache
never outlives the data by more than one evaluation; the TTL bounds it otherwise. A Redis
failure means computing, never an error (`cached_json`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session

from shared.abtest.models import AbTest, AbTestStatus
from shared.config import get_settings
from shared.dashboard.schemas import DashboardCounts, DashboardSummary, MarketMover, MarketMovers, ModelPerformance
from shared.evaluation.models import DailyPerformance, Evaluation
from shared.news.models import News
from shared.predictions import model_configs
from shared.predictions import queries as prediction_queries
from shared.predictions.models import Direction, ModelConfig, Prediction, PredictionStatus
from shared.predictions.schemas import PredictionFilters, PredictionSort
from shared.stocks.models import DailyPrice, Stock
from shared.stores.redis import cached_json

CACHE_NAMESPACE = "dashboard"
CACHE_KEY = ("summary", "v1")
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
    anchor = model_configs.performance_as_of(db_session=db_session)
    return DashboardSummary(
        generated_at=datetime.now(UTC),
        latest_target_date=latest_target,
        performance_as_of=anchor,
        counts=_counts(db_session=db_session, latest_target=latest_target),
        top_signals=_top_signals(db_session=db_session, latest_target=latest_target),
        model_performance=_model_performance(db_session=db_session, anchor=anchor),
        market_movers=_market_movers(db_session=db_session),
    )


def _counts(*, db_session: Session, latest_target: date | None) -> DashboardCounts:
    """Every count in one statement: one pass over predictions, one over evaluations.

    Evaluations exist only for successful calls, so "awaiting evaluation" is the
    difference of two counts rather than an anti-join over every prediction.
    """
    on_latest_day = Prediction.target_date == latest_target if latest_target is not None else literal(False)
    predictions = select(
        func.count().label("total"),
        func.count().filter(Prediction.status == PredictionStatus.OK).label("ok"),
        func.count().filter(on_latest_day).label("latest_day"),
    ).subquery("prediction_counts")

    def count_of(statement: Any) -> Any:
        return statement.scalar_subquery()

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
            predictions.c.total.label("predictions_total"),
            predictions.c.latest_day.label("predictions_latest_day"),
            count_of(select(func.count()).select_from(Evaluation)).label("evaluations_total"),
            (predictions.c.ok - count_of(select(func.count()).select_from(Evaluation))).label("awaiting_evaluation"),
            count_of(select(func.count()).select_from(News)).label("news_total"),
        ).select_from(predictions)
    ).one()
    return DashboardCounts.model_validate({key: max(0, int(value or 0)) for key, value in row._mapping.items()})


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
    """Per model, from daily_performance (evaluate's roll-up): the numbers /api/models shows too."""
    if anchor is None:
        return []
    window_start = anchor - timedelta(days=max(model_configs.PERFORMANCE_WINDOWS))
    scored = (
        select(DailyPerformance.model_config_id)
        .where(
            DailyPerformance.ab_variant_id.is_(None),
            DailyPerformance.date > window_start,
            DailyPerformance.date <= anchor,
        )
        .distinct()
    )
    models = db_session.execute(
        select(ModelConfig.id, ModelConfig.name, ModelConfig.is_champion)
        .where(ModelConfig.id.in_(scored))
        .order_by(ModelConfig.is_champion.desc(), ModelConfig.name, ModelConfig.id)
    ).all()
    windows = model_configs.performance(
        db_session=db_session, model_config_ids=[model.id for model in models], anchor=anchor
    )
    return [
        ModelPerformance(
            model_config_id=model.id, model_name=model.name, is_champion=model.is_champion, windows=windows[model.id]
        )
        for model in models
    ]


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
