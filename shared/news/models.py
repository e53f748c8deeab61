"""News items, the stocks they name, and their embedding outbox state."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from shared.db.base import Base
from shared.db.types import str_enum


class EmbeddingStatus(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class News(Base):
    __tablename__ = "news"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(Text, unique=True)
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, server_default="")
    source: Mapped[str] = mapped_column(String(200), server_default="")
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    embedding_status: Mapped[EmbeddingStatus] = mapped_column(
        str_enum(EmbeddingStatus, "embedding_status"), server_default=EmbeddingStatus.PENDING.value
    )
    embedding_attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    embedding_error: Mapped[str | None] = mapped_column(Text)
    embedding_model: Mapped[str | None] = mapped_column(String(100))
    embedded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # The outbox query reads only pending rows; keep that index tiny.
        Index(
            "ix_news_embedding_pending",
            "id",
            postgresql_where=text("embedding_status = 'pending'"),
        ),
        # Text search when vectors are unavailable matches substrings (Korean attaches
        # particles to words): trigram indexes serve ILIKE '%term%' for terms of 3+ characters.
        Index("ix_news_title_trgm", "title", postgresql_using="gin", postgresql_ops={"title": "gin_trgm_ops"}),
        Index("ix_news_summary_trgm", "summary", postgresql_using="gin", postgresql_ops={"summary": "gin_trgm_ops"}),
    )


class NewsStock(Base):
    """A news item names a stock: one row per (news, stock), not per query that found it."""

    __tablename__ = "news_stocks"

    news_id: Mapped[int] = mapped_column(ForeignKey("news.id", ondelete="CASCADE"), primary_key=True)
    stock_code: Mapped[str] = mapped_column(ForeignKey("stocks.code", ondelete="CASCADE"), primary_key=True)

    __table_args__ = (Index("ix_news_stocks_stock_code", "stock_code"),)
