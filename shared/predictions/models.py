"""Model configurations and every prediction they made."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.db.base import Base, TimestampMixin
from shared.db.types import str_enum


class ModelKind(enum.StrEnum):
    LLM = "llm"
    BASELINE = "baseline"


class Direction(enum.StrEnum):
    UP = "up"
    DOWN = "down"
    FLAT = "flat"


class PredictionStatus(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"


class ModelConfig(TimestampMixin, Base):
    """A predictor: an LLM with a prompt version and parameters, or a baseline."""

    __tablename__ = "model_configs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[ModelKind] = mapped_column(str_enum(ModelKind, "model_kind"))
    # provider selects the implementation: openai | momentum | news_sentiment | base_rate
    provider: Mapped[str] = mapped_column(String(50))
    model_id: Mapped[str] = mapped_column(String(100))
    prompt_version: Mapped[str | None] = mapped_column(String(50))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    active: Mapped[bool] = mapped_column(Boolean, server_default=true())
    is_champion: Mapped[bool] = mapped_column(Boolean, server_default=false())
    description: Mapped[str] = mapped_column(Text, server_default="")


class Prediction(Base):
    """A next-day call. Failed calls are stored too, with the reason: never silently dropped."""

    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    stock_code: Mapped[str] = mapped_column(ForeignKey("stocks.code", ondelete="CASCADE"))
    model_config_id: Mapped[int] = mapped_column(ForeignKey("model_configs.id", ondelete="CASCADE"))
    ab_variant_id: Mapped[int | None] = mapped_column(ForeignKey("ab_variants.id", ondelete="SET NULL"))
    as_of_date: Mapped[date] = mapped_column(Date)
    target_date: Mapped[date] = mapped_column(Date)
    status: Mapped[PredictionStatus] = mapped_column(
        str_enum(PredictionStatus, "prediction_status"), server_default=PredictionStatus.OK.value
    )
    direction: Mapped[Direction | None] = mapped_column(str_enum(Direction, "direction"))
    probability: Mapped[float | None] = mapped_column(Float)
    expected_return: Mapped[float | None] = mapped_column(Float)
    rationale: Mapped[str] = mapped_column(Text, server_default="")
    evidence_news_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), server_default="{}")
    prompt_version: Mapped[str | None] = mapped_column(String(50))
    prompt_tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    completion_tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    cost_usd: Mapped[Decimal] = mapped_column(Numeric(12, 6), server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        UniqueConstraint("stock_code", "model_config_id", "target_date"),
        Index("ix_predictions_target_date_model", "target_date", "model_config_id"),
        # The list's orders (a column, then id as tie-break), walked either way: a page is an
        # index range, not a sort of a whole day's (or table's) rows.
        Index("ix_predictions_target_date_id", "target_date", "id"),
        Index("ix_predictions_as_of_date_id", "as_of_date", "id"),
        Index("ix_predictions_created_at_id", "created_at", "id"),
        Index("ix_predictions_model_config_id_id", "model_config_id", "id"),
        Index("ix_predictions_ab_variant_id", "ab_variant_id"),
        Index("ix_predictions_stock_code_target_date", "stock_code", "target_date"),
        Index("ix_predictions_probability", "probability"),
    )
