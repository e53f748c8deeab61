"""Typed records every upstream parser produces, whatever the wire format it read.

KRX's data endpoint and its Open API (and KIS's daily chart) describe the same facts in
different shapes; the ingestion jobs only ever see these records. A parser never
raises on one bad row: it returns the good records plus the rejected rows with their raw
values, so a malformed record is logged and counted while the rest of the batch is stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from shared.stocks.models import Market

T = TypeVar("T")

STOCK_CODE = re.compile(r"^[0-9A-Z]{6}$")


class MalformedFieldError(ValueError):
    """One field of an upstream row does not hold what its name promises."""


@dataclass(frozen=True, slots=True)
class ListingRecord:
    code: str
    name: str
    market: Market
    sector: str | None
    isin: str | None
    listed_on: date | None


@dataclass(frozen=True, slots=True)
class DailyPriceRecord:
    """One stock's bar for one trading day; prices in whole KRW."""

    code: str
    name: str | None
    market: Market | None
    isin: str | None
    day: date
    open: int
    high: int
    low: int
    close: int
    volume: int
    value: int
    change: int
    change_rate: float
    market_cap: int | None


@dataclass(frozen=True, slots=True)
class NewsRecord:
    url: str
    title: str
    summary: str
    source: str
    published_at: datetime


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row a parser could not use, kept raw so the log shows exactly what arrived."""

    raw: Mapping[str, Any]
    reason: str


@dataclass(slots=True)
class ParsedBatch(Generic[T]):
    records: list[T] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    # Codes whose values are "-": the upstream has not published them yet (not zeros).
    unpublished: list[str] = field(default_factory=list)

    def extend(self, other: ParsedBatch[T]) -> None:
        self.records.extend(other.records)
        self.rejected.extend(other.rejected)
        self.unpublished.extend(other.unpublished)


_MARKET_NAMES = {
    "KOSPI": Market.KOSPI,
    "STK": Market.KOSPI,
    "유가증권": Market.KOSPI,
    "KOSDAQ": Market.KOSDAQ,
    "KOSDAQ GLOBAL": Market.KOSDAQ,
    "KSQ": Market.KOSDAQ,
    "코스닥": Market.KOSDAQ,
    "KONEX": Market.KONEX,
    "KNX": Market.KONEX,
    "코넥스": Market.KONEX,
}


def parse_market(raw: object) -> Market:
    """KRX names a market several ways (KOSPI, STK, 유가증권, KOSDAQ GLOBAL…); all map to one enum."""
    name = str(raw or "").strip().upper()
    market = _MARKET_NAMES.get(name) or _MARKET_NAMES.get(str(raw or "").strip())
    if market is None:
        raise MalformedFieldError(f"unknown market {raw!r}")
    return market


def parse_stock_code(raw: object) -> str:
    code = str(raw or "").strip().upper()
    if not STOCK_CODE.match(code):
        raise MalformedFieldError(f"invalid stock code {raw!r}")
    return code


def optional_text(raw: object) -> str | None:
    """KRX writes "no value" as "" or "-"."""
    text = str(raw or "").strip()
    return None if text in {"", "-"} else text
