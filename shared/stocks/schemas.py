"""Stocks and their daily prices as the API reads and writes them."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import StringConstraints

from shared.api.schema_base import ApiModel, Page, ReadModel, UtcDateTime
from shared.stocks.models import Market

StockCode = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[0-9A-Z]{6}$")]
StockName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Sector = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Isin = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Z]{2}[0-9A-Z]{9}[0-9]$")]


class StockCreate(ApiModel):
    code: StockCode
    name: StockName
    market: Market
    sector: Sector | None = None
    isin: Isin | None = None
    listed_on: date | None = None
    active: bool = True
    watched: bool = False


class StockUpdate(ApiModel):
    """Fields an admin may change; omitted fields stay as they are. The code is the key: never changed."""

    name: StockName | None = None
    market: Market | None = None
    sector: Sector | None = None
    isin: Isin | None = None
    listed_on: date | None = None
    active: bool | None = None
    watched: bool | None = None


class DailyPriceRead(ReadModel):
    date: date
    open: int
    high: int
    low: int
    close: int
    volume: int
    value: int
    change: int
    change_rate: float
    market_cap: int | None


class StockRead(ReadModel):
    code: str
    name: str
    market: Market
    sector: str | None
    isin: str | None
    listed_on: date | None
    active: bool
    watched: bool
    created_at: UtcDateTime
    updated_at: UtcDateTime


class StockWithPrice(StockRead):
    latest_price: DailyPriceRead | None = None


class StockPagination(Page[StockWithPrice]):
    """A page of stocks; a named subclass gives its OpenAPI schema a readable name."""


class PriceHistory(ReadModel):
    code: str
    start: date
    end: date
    items: list[DailyPriceRead]
