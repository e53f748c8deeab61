"""A/B tests between model configurations."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shared.db.base import Base, TimestampMixin
from shared.db.types import str_enum


class AbTestStatus(enum.StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    STOPPED = "stopped"


class AbTest(TimestampMixin, Base):
    __tablename__ = "ab_tests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, server_default="")
    status: Mapped[AbTestStatus] = mapped_column(
        str_enum(AbTestStatus, "ab_test_status"), server_default=AbTestStatus.DRAFT.value, index=True
    )
    min_detectable_effect: Mapped[float] = mapped_column(Float, server_default="0.05")
    alpha: Mapped[float] = mapped_column(Float, server_default="0.05")
    power: Mapped[float] = mapped_column(Float, server_default="0.8")
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    winner_variant_id: Mapped[int | None] = mapped_column(
        ForeignKey("ab_variants.id", ondelete="SET NULL", use_alter=True)
    )


class AbVariant(Base):
    __tablename__ = "ab_variants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ab_test_id: Mapped[int] = mapped_column(ForeignKey("ab_tests.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    model_config_id: Mapped[int] = mapped_column(ForeignKey("model_configs.id", ondelete="RESTRICT"))
    weight: Mapped[float] = mapped_column(Float, server_default="1")

    __table_args__ = (UniqueConstraint("ab_test_id", "name"),)
