"""Listed stocks and their daily OHLCV."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Float, ForeignKey, Index, String, false, true
from sqlalchemy.orm import Mapped, mapped_column

from shared.db.base import Base, TimestampMixin
from shared.db.types import str_enum


class Market(enum.StrEnum):
    KOSPI = "KOSPI"
    KOSDAQ = "KOSDAQ"
    KONEX = "KONEX"


class Stock(TimestampMixin, Base):
    __tablename__ = "stocks"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    market: Mapped[Market] = mapped_column(str_enum(Market, "market"), index=True)
    sector: Mapped[str | None] = mapped_column(String(100), index=True)
    isin: Mapped[str | None] = mapped_column(String(12))
    listed_on: Mapped[date | None] = mapped_column(Date)
    # Tracked by the system (predicted, crawled). An admin may switch it off; the listing job
    # switches it off for a stock that left the exchange and records when in `delisted_at`,
    # so a relisting brings back what the listing retired, never what an admin did.
    active: Mapped[bool] = mapped_column(Boolean, server_default=true(), index=True)
    delisted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    watched: Mapped[bool] = mapped_column(Boolean, server_default=false())

    __table_args__ = (Index("ix_stocks_name", "name"),)


class DailyPrice(Base):
    """One trading day of one stock. Prices are whole KRW."""

    __tablename__ = "daily_prices"

    code: Mapped[str] = mapped_column(ForeignKey("stocks.code", ondelete="CASCADE"), primary_key=True)
    date: Mapped[date] = mapped_column(Date, primary_key=True)
    open: Mapped[int] = mapped_column(BigInteger)
    high: Mapped[int] = mapped_column(BigInteger)
    low: Mapped[int] = mapped_column(BigInteger)
    close: Mapped[int] = mapped_column(BigInteger)
    volume: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[int] = mapped_column(BigInteger)
    change: Mapped[int] = mapped_column(BigInteger)
    change_rate: Mapped[float] = mapped_column(Float)
    market_cap: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_daily_prices_date", "date"),)
