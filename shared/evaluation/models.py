"""Scores of matured predictions and the per-model daily roll-up."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.schema import UniqueConstraint

from shared.db.base import Base
from shared.db.types import str_enum
from shared.predictions.models import Direction


class Evaluation(Base):
    __tablename__ = "evaluations"

    prediction_id: Mapped[int] = mapped_column(ForeignKey("predictions.id", ondelete="CASCADE"), primary_key=True)
    previous_close: Mapped[int] = mapped_column(BigInteger)
    actual_close: Mapped[int] = mapped_column(BigInteger)
    actual_return: Mapped[float] = mapped_column(Float)
    realized_direction: Mapped[Direction] = mapped_column(str_enum(Direction, "realized_direction"))
    correct: Mapped[bool] = mapped_column(Boolean)
    brier: Mapped[float] = mapped_column(Float)
    log_loss: Mapped[float] = mapped_column(Float)
    strategy_return: Mapped[float] = mapped_column(Float)
    evaluated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class DailyPerformance(Base):
    """Per model (and A/B variant, when the calls came from one) per target date."""

    __tablename__ = "daily_performance"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    date: Mapped[date] = mapped_column(Date)
    model_config_id: Mapped[int] = mapped_column(ForeignKey("model_configs.id", ondelete="CASCADE"))
    ab_variant_id: Mapped[int | None] = mapped_column(ForeignKey("ab_variants.id", ondelete="CASCADE"))
    n: Mapped[int] = mapped_column(Integer)
    hits: Mapped[int] = mapped_column(Integer)
    hit_rate: Mapped[float] = mapped_column(Float)
    hit_rate_low: Mapped[float] = mapped_column(Float)
    hit_rate_high: Mapped[float] = mapped_column(Float)
    brier: Mapped[float] = mapped_column(Float)
    log_loss: Mapped[float] = mapped_column(Float)
    mean_strategy_return: Mapped[float] = mapped_column(Float)
    cumulative_strategy_return: Mapped[float] = mapped_column(Float)
    calibration: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        UniqueConstraint("date", "model_config_id", "ab_variant_id", postgresql_nulls_not_distinct=True),
        Index("ix_daily_performance_model_config_id_date", "model_config_id", "date"),
    )
