"""The home page's summary: one response, cached as a whole."""

from __future__ import annotations

from datetime import date

from shared.api.schema_base import ReadModel, UtcDateTime
from shared.predictions.schemas import PredictionRead


class DashboardCounts(ReadModel):
    stocks_active: int
    stocks_watched: int
    models_active: int
    ab_tests_running: int
    predictions_total: int
    predictions_latest_day: int
    evaluations_total: int
    awaiting_evaluation: int
    news_total: int


class WindowPerformance(ReadModel):
    """Hit rate (with its 95% Wilson interval) and Brier score over a trailing window."""

    days: int
    n: int
    hits: int
    hit_rate: float | None
    hit_rate_low: float | None
    hit_rate_high: float | None
    brier: float | None


class ModelPerformance(ReadModel):
    model_config_id: int
    model_name: str
    is_champion: bool
    windows: list[WindowPerformance]


class MarketMover(ReadModel):
    code: str
    name: str
    market: str
    close: int
    change: int
    change_rate: float
    value: int


class MarketMovers(ReadModel):
    date: date | None
    gainers: list[MarketMover]
    losers: list[MarketMover]
    most_traded: list[MarketMover]


class DashboardSummary(ReadModel):
    generated_at: UtcDateTime
    latest_target_date: date | None
    # Windows end at the latest evaluated target date, so a replay of past data reads the same.
    performance_as_of: date | None
    counts: DashboardCounts
    top_signals: list[PredictionRead]
    model_performance: list[ModelPerformance]
    market_movers: MarketMovers
