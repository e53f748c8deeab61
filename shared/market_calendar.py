"""The KRX trading calendar, used by every function: never a hand-kept holiday list.

`holidays.financial_holidays("XKRX")` is the exchange's own calendar (lunar holidays,
alternative holidays, election days, the 31 December closure). A trading day is a
weekday not in it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

KST = ZoneInfo("Asia/Seoul")
MARKET_OPEN = time(9, 0)
MARKET_CLOSE = time(15, 30)


@lru_cache(maxsize=64)
def _closed_days(year: int) -> frozenset[date]:
    return frozenset(holidays.financial_holidays("XKRX", years=year).keys())


def is_trading_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _closed_days(day.year)


def next_trading_day(day: date) -> date:
    candidate = day + timedelta(days=1)
    while not is_trading_day(candidate):
        candidate += timedelta(days=1)
    return candidate


def previous_trading_day(day: date) -> date:
    candidate = day - timedelta(days=1)
    while not is_trading_day(candidate):
        candidate -= timedelta(days=1)
    return candidate


def trading_days(start: date, end: date) -> Iterator[date]:
    """Trading days from start to end, both included."""
    day = start
    while day <= end:
        if is_trading_day(day):
            yield day
        day += timedelta(days=1)


def today_kst(now: datetime | None = None) -> date:
    return (now or datetime.now(KST)).astimezone(KST).date()


def market_open_at(day: date) -> datetime:
    return datetime.combine(day, MARKET_OPEN, tzinfo=KST)


def market_close_at(day: date) -> datetime:
    return datetime.combine(day, MARKET_CLOSE, tzinfo=KST)


def is_market_open(now: datetime) -> bool:
    local = now.astimezone(KST)
    return is_trading_day(local.date()) and MARKET_OPEN <= local.time() < MARKET_CLOSE
