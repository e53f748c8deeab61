"""The stocks the sandbox lists: real codes, names and markets from the packaged KRX data.

``default`` is a few dozen large caps (fast to load, what tests and the demo use); ``full`` is
every stock KRX traded in early 2024 (ingestion benchmarks). Both are read from
``sandbox/data/stocks.json.xz`` built by :mod:`sandbox.build_data`.
"""

from __future__ import annotations

import json
import lzma
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Literal

UniverseName = Literal["default", "full"]
DATA_DIR = Path(__file__).resolve().parent / "data"

# MKT_TP_NM (listing) -> the market as daily reports name it.
_MARKET_NAMES = {"STK": "KOSPI", "KSQ": "KOSDAQ", "KNX": "KONEX"}


@dataclass(frozen=True, slots=True)
class Stock:
    code: str  # 6-character short code
    isin: str
    name: str  # ISU_ABBRV, the name every report and headline uses
    market_id: str  # STK / KSQ / KNX
    segment: str  # MKT_TP_NM: KOSPI / KOSDAQ / KOSDAQ GLOBAL / KONEX
    dept: str  # 소속부 as of 2024 (SECT_TP_NM of the daily report)
    shares: int
    listed_from: date | None  # None: listed before the sandbox's first year
    delisted_after: date | None
    first_real: date  # first day of packaged real bars
    prev_close: int | None  # real close of the trading day before first_real, when known
    is_default: bool
    listing: dict[str, str] = field(repr=False, compare=False, hash=False)

    @property
    def market_name(self) -> str:
        return _MARKET_NAMES[self.market_id]


def _day(text: str) -> date | None:
    digits = text.replace("/", "").replace("-", "")
    if len(digits) != 8:
        return None
    return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))


@cache
def _records() -> tuple[dict[str, Any], ...]:
    raw = (DATA_DIR / "stocks.json.xz").read_bytes()
    return tuple(json.loads(lzma.decompress(raw)))


def _stock(record: dict[str, Any]) -> Stock:
    listing: dict[str, str] = record["listing"]
    first_real = _day(record["first"])
    assert first_real is not None
    listed_from = _day(listing.get("LIST_DD", ""))
    if listed_from is not None and listed_from > first_real:
        listed_from = first_real  # a reused code: trust the trading record
    return Stock(
        code=record["code"],
        isin=listing["ISU_CD"],
        name=listing["ISU_ABBRV"],
        market_id=record["market_id"],
        segment=listing["MKT_TP_NM"],
        dept=record["dept"],
        shares=int(record["shares"]),
        listed_from=listed_from,
        delisted_after=_day(record["delisted_after"] or ""),
        first_real=first_real,
        prev_close=record["prev_close"],
        is_default=bool(record["default"]),
        listing=listing,
    )


class Universe:
    """An immutable, indexed set of stocks."""

    def __init__(self, name: UniverseName) -> None:
        if name not in ("default", "full"):
            raise ValueError(f"unknown universe {name!r}: use 'default' or 'full'")
        self.name: UniverseName = name
        records = [r for r in _records() if name == "full" or r["default"]]
        self.stocks: tuple[Stock, ...] = tuple(_stock(r) for r in records)
        self._by_code = {s.code: s for s in self.stocks}
        self._by_isin = {s.isin: s for s in self.stocks}
        # Reports list stocks by name, as KRX does.
        self.by_name_order: tuple[Stock, ...] = tuple(sorted(self.stocks, key=lambda s: (s.name, s.code)))

    def __len__(self) -> int:
        return len(self.stocks)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def get(self, code: str) -> Stock | None:
        return self._by_code.get(code)

    def by_isin(self, isin: str) -> Stock | None:
        return self._by_isin.get(isin)

    def in_market(self, market_id: str) -> tuple[Stock, ...]:
        """Stocks of one market (``ALL`` for every market), in report order."""
        if market_id == "ALL":
            return self.by_name_order
        return tuple(s for s in self.by_name_order if s.market_id == market_id)
