"""The home page's summary: one response, cached as a whole."""

from __future__ import annotations

from datetime import date

from shared.api.schema_base import ReadModel, UtcDateTime
from shared.predictions.schemas import ModelConfigPerformance, PredictionRead


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


class ModelPerformance(ReadModel):
    model_config_id: int
    model_name: str
    is_champion: bool
    windows: list[ModelConfigPerformance]


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
    # Windows (7/30/90 days) end at the latest day evaluate rolled up, so a replay of past data
    # reads the same; they come from daily_performance, as /api/models does.
    performance_as_of: date | None
    counts: DashboardCounts
    top_signals: list[PredictionRead]
    model_performance: list[ModelPerformance]
    market_movers: MarketMovers
