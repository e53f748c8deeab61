"""The KRX trading calendar (XKRX) with a dense trading-day index.

Generated prices are random walks over *trading days*, so the market model needs O(1)
"n-th trading day" arithmetic. Years are built on demand (``holidays`` takes a few ms a year).
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

KST = ZoneInfo("Asia/Seoul")
# Nothing is served before this day: generated history has to start somewhere.
FIRST_YEAR = 2010
LAST_YEAR = 2045

REGULAR_OPEN = time(9, 0)
LATE_OPEN = time(10, 0)  # first trading day of the year
CLOSE = time(15, 30)


class TradingCalendar:
    """Trading days of KRX between FIRST_YEAR and LAST_YEAR, indexed densely from 0."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._days: list[date] = []  # every trading day of the built years, ascending
        self._ordinals: list[int] = []
        self._built_until = FIRST_YEAR - 1
        self._year_start: dict[int, int] = {}

    def _ensure(self, year: int) -> None:
        year = min(max(year, FIRST_YEAR), LAST_YEAR)
        if year <= self._built_until:
            return
        with self._lock:
            while self._built_until < year:
                y = self._built_until + 1
                closed = holidays.financial_holidays("XKRX", years=y)
                self._year_start[y] = len(self._days)
                d = date(y, 1, 1)
                while d.year == y:
                    if d.weekday() < 5 and d not in closed:
                        self._days.append(d)
                        self._ordinals.append(d.toordinal())
                    d += timedelta(days=1)
                self._built_until = y

    def in_range(self, day: date) -> bool:
        return FIRST_YEAR <= day.year <= LAST_YEAR

    def is_trading_day(self, day: date) -> bool:
        if not self.in_range(day):
            return False
        self._ensure(day.year)
        i = bisect_left(self._ordinals, day.toordinal())
        return i < len(self._ordinals) and self._ordinals[i] == day.toordinal()

    def index(self, day: date) -> int:
        """Dense index of a trading day; for other days, the index of the previous trading day."""
        self._ensure(day.year)
        return bisect_right(self._ordinals, day.toordinal()) - 1

    def day_at(self, index: int) -> date:
        if index < 0:
            raise IndexError("before the first supported trading day")
        while index >= len(self._days) and self._built_until < LAST_YEAR:
            self._ensure(self._built_until + 1)
        return self._days[index]

    def previous(self, day: date) -> date | None:
        """The last trading day strictly before ``day``."""
        i = bisect_left(self._ordinals_for(day), day.toordinal()) - 1
        return self._days[i] if i >= 0 else None

    def on_or_before(self, day: date) -> date | None:
        i = self.index(day)
        return self._days[i] if i >= 0 else None

    def between(self, start: date, end: date) -> list[date]:
        """Trading days in [start, end], ascending."""
        if end < start:
            return []
        self._ensure(end.year)
        lo = bisect_left(self._ordinals, start.toordinal())
        hi = bisect_right(self._ordinals, end.toordinal())
        return self._days[lo:hi]

    def is_first_of_year(self, day: date) -> bool:
        self._ensure(day.year)
        start = self._year_start.get(day.year)
        return start is not None and start < len(self._days) and self._days[start] == day

    def session(self, day: date) -> tuple[datetime, datetime]:
        """Regular-session open and close (KST); the year's first session opens an hour late."""
        opening = LATE_OPEN if self.is_first_of_year(day) else REGULAR_OPEN
        return datetime.combine(day, opening, KST), datetime.combine(day, CLOSE, KST)

    def _ordinals_for(self, day: date) -> list[int]:
        self._ensure(day.year)
        return self._ordinals
