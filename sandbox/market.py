"""Daily and intraday prices: real KRX bars where the packaged data has them, a seeded random walk elsewhere.

Every upstream (KRX reports, KIS quotes, news tone) reads prices from here, so they always
agree with each other. Generated history continues from the nearest real close (forward past
the last real day, backward before the first) as a mean-reverting walk in log price with a
market factor shared by all stocks, so a generated day has realistic cross-sectional moves.
Everything is a pure function of (seed, code, day): request order never changes a price.
"""

from __future__ import annotations

import csv
import io
import itertools
import lzma
import math
import random
import statistics
import threading
from array import array
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from statistics import NormalDist
from typing import Literal

from sandbox.ticks import limit_prices, round_to_tick
from sandbox.trading_calendar import FIRST_YEAR, KST, TradingCalendar
from sandbox.universe import DATA_DIR, Stock, Universe

RealRow = tuple[int, int, int, int, int, int | None]  # open, high, low, close, volume, amount

_MARKET_SD = 0.009  # daily sd of the shared market factor
_IDIO_SD = {"STK": 0.014, "KSQ": 0.021, "KNX": 0.027}
_REVERSION = 0.004  # pull of log price toward the anchor close, per day
# Standard normal quantiles: a table lookup per step keeps walking 2,800 stocks over years fast.
_NORMAL_TABLE: tuple[float, ...] = tuple(NormalDist().inv_cdf((i + 0.5) / 4096) for i in range(4096))


@dataclass(frozen=True, slots=True)
class Bar:
    """One stock's session: final after the close, partial while the market is open."""

    day: date
    open: int
    high: int
    low: int
    close: int
    volume: int
    amount: int
    prev_close: int
    real: bool

    @property
    def change(self) -> int:
        return self.close - self.prev_close

    @property
    def change_rate(self) -> float:
        """Percent change against the previous close."""
        return 0.0 if not self.prev_close else self.change / self.prev_close * 100

    @property
    def day_return(self) -> float:
        return 0.0 if not self.prev_close else self.close / self.prev_close - 1


SessionState = Literal["pre_open", "open", "closed"]


@dataclass(frozen=True, slots=True)
class Quote:
    """What a quote service shows at an instant: the current (or last) session so far."""

    bar: Bar
    state: SessionState
    at: datetime


def _parse_day(text: str) -> date:
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))


@lru_cache(maxsize=4)
def _read_bars(filename: str) -> dict[str, dict[date, RealRow]]:
    raw = lzma.decompress((DATA_DIR / filename).read_bytes())
    out: dict[str, dict[date, RealRow]] = {}
    for code, day, o, h, low, c, v, amount in csv.reader(io.StringIO(raw.decode("utf-8"))):
        out.setdefault(code, {})[_parse_day(day)] = (
            int(o),
            int(h),
            int(low),
            int(c),
            int(v),
            int(amount) if amount else None,
        )
    return out


class _Series:
    """Real bars of one stock plus its lazily extended generated walk (closes as floats)."""

    def __init__(self, stock: Stock, real: dict[date, RealRow], calendar: TradingCalendar, seed: int) -> None:
        self.stock = stock
        self.lock = threading.Lock()
        self.real_by_index = {calendar.index(d): row for d, row in real.items()}
        self.first_index = min(self.real_by_index)
        self.last_index = max(self.real_by_index)
        params = random.Random(f"{seed}:{stock.code}:params")
        self.beta = params.uniform(0.6, 1.3)
        self.idio_sd = _IDIO_SD[stock.market_id] * params.uniform(0.8, 1.2)
        # Backward walk anchor: the real previous close when the data gives it.
        if stock.prev_close:
            self.back_index, back_close = self.first_index - 1, float(stock.prev_close)
        else:
            self.back_index, back_close = self.first_index, float(real[min(real)][3])
        self.fwd_close = float(self.real_by_index[self.last_index][3])
        self.fwd = array("d", [self.fwd_close])  # fwd[k] = close at last_index + k
        self.bwd = array("d", [back_close])  # bwd[k] = close at back_index - k
        self.back_close = back_close
        self.fwd_rng = random.Random(f"{seed}:{stock.code}:fwd")
        self.bwd_rng = random.Random(f"{seed}:{stock.code}:bwd")
        volumes = [row[4] for _, row in sorted(self.real_by_index.items()) if row[4] > 0]
        self.fwd_volume = statistics.median(volumes[-60:]) if volumes else 100_000.0
        self.bwd_volume = statistics.median(volumes[:60]) if volumes else 100_000.0


class Market:
    """Prices of a universe, deterministic for a seed."""

    def __init__(self, universe: Universe, seed: int, calendar: TradingCalendar | None = None) -> None:
        self.universe = universe
        self.seed = seed
        self.calendar = calendar or TradingCalendar()
        self._series: dict[str, _Series] = {}
        self._lock = threading.Lock()
        self._market_moves: list[float] = []
        self._market_rng = random.Random(f"{seed}:market")
        self._bar_cache = lru_cache(maxsize=262_144)(self._compute_bar)
        self._path_cache = lru_cache(maxsize=4_096)(self._compute_path)

    # ---- real data -------------------------------------------------------------------
    def _real_rows(self, code: str) -> dict[date, RealRow]:
        rows = _read_bars("prices_default.csv.xz").get(code)
        if rows is None and self.universe.name == "full":
            rows = _read_bars("prices_full.csv.xz").get(code)
        if rows is None:
            raise KeyError(code)
        return rows

    def series(self, code: str) -> _Series:
        found = self._series.get(code)
        if found is not None:
            return found
        stock = self.universe.get(code)
        if stock is None:
            raise KeyError(code)
        with self._lock:
            found = self._series.get(code)
            if found is None:
                found = _Series(stock, self._real_rows(code), self.calendar, self.seed)
                self._series[code] = found
        return found

    # ---- the walk ----------------------------------------------------------------------
    def _market_moves_until(self, index: int) -> list[float]:
        """Daily market-factor moves by trading-day index (one seeded stream from 2010)."""
        moves = self._market_moves
        if len(moves) <= index:
            with self._lock:
                gauss = self._market_rng.gauss
                while len(moves) <= index:
                    moves.append(gauss(0.0, _MARKET_SD))
        return moves

    def close_value(self, code: str, index: int) -> float:
        """Unrounded close at a trading-day index (real where known)."""
        s = self.series(code)
        if s.first_index <= index <= s.last_index:
            i = index
            while i not in s.real_by_index:  # a gap inside real data: a halted day
                i -= 1
            return float(s.real_by_index[i][3])
        if index > s.last_index:
            k = index - s.last_index
            if k >= len(s.fwd):
                self._walk(s, k, forward=True)
            return s.fwd[k]
        k = s.back_index - index
        if k >= len(s.bwd):
            self._walk(s, k, forward=False)
        return s.bwd[k]

    def _walk(self, s: _Series, k: int, *, forward: bool) -> None:
        """Extend a walk to at least ``k`` steps from its anchor (in chunks: cheap to ask often)."""
        with s.lock:
            values = s.fwd if forward else s.bwd
            have = len(values)
            if have > k:
                return
            target = max(k, have + 63)
            if forward:
                moves = self._market_moves_until(s.last_index + target)
            else:
                target = min(target, s.back_index)  # index 0 is the first supported day
                moves = self._market_moves_until(s.back_index)
            uniform = (s.fwd_rng if forward else s.bwd_rng).random
            table, size = _NORMAL_TABLE, len(_NORMAL_TABLE)
            beta, sd, log, exp = s.beta, s.idio_sd, math.log, math.exp
            anchor = s.fwd_close if forward else s.back_close
            pull = -_REVERSION if forward else _REVERSION
            value = values[-1]
            for step in range(have, target + 1):
                # forward: the move of day (last + step); backward: undo the move of day (back - step + 1)
                day_index = s.last_index + step if forward else s.back_index - step + 1
                z = table[int(uniform() * size)]
                move = beta * moves[day_index] + sd * z + pull * log(value / anchor)
                move = -0.25 if move < -0.25 else 0.25 if move > 0.25 else move
                value = value * exp(move) if forward else value / exp(move)
                values.append(value)

    # ---- bars -------------------------------------------------------------------------------
    def trades_on(self, stock: Stock, day: date) -> bool:
        """Whether the stock has a session that day (trading day, listed, not yet delisted)."""
        if day.year < FIRST_YEAR or not self.calendar.is_trading_day(day):
            return False
        if stock.listed_from is not None and day < stock.listed_from:
            return False
        return stock.delisted_after is None or day <= stock.delisted_after

    def bar(self, code: str, day: date) -> Bar | None:
        """The final bar of a session, or None when the stock did not trade that day."""
        stock = self.universe.get(code)
        if stock is None or not self.trades_on(stock, day):
            return None
        return self._bar_cache(code, self.calendar.index(day))

    def bars(self, code: str, start: date, end: date) -> list[Bar]:
        """Final bars of every session in [start, end], oldest first."""
        found = (self.bar(code, d) for d in self.calendar.between(start, end))
        return [b for b in found if b is not None]

    def _compute_bar(self, code: str, index: int) -> Bar:
        s = self.series(code)
        day = self.calendar.day_at(index)
        prev_close = round_to_tick(self.close_value(code, index - 1)) if index > 0 else 0
        row = s.real_by_index.get(index)
        if row is not None:
            o, h, low, c, v, amount = row
            if amount is None:
                amount = round(v * (o + h + low + c) / 4) if o else 0
            return Bar(day, o, h, low, c, v, amount, prev_close or c, True)
        if s.first_index < index < s.last_index:  # gap inside real data: halted
            c = round_to_tick(self.close_value(code, index))
            return Bar(day, 0, 0, 0, c, 0, 0, prev_close or c, True)
        close_f = self.close_value(code, index)
        prev_f = self.close_value(code, index - 1) if index > 0 else close_f
        rng = random.Random(f"{self.seed}:{code}:{day.toordinal()}:bar")
        sd = s.idio_sd
        base = prev_close or round_to_tick(prev_f)
        upper, lower = limit_prices(base)
        c = min(upper, max(lower, round_to_tick(close_f)))
        o = min(upper, max(lower, round_to_tick(prev_f * math.exp(rng.gauss(0.0, 0.35 * sd)))))
        h = min(upper, round_to_tick(max(o, c) * (1 + abs(rng.gauss(0.0, 0.45 * sd)))))
        low = max(lower, round_to_tick(min(o, c) * (1 - abs(rng.gauss(0.0, 0.45 * sd)))))
        h, low = max(h, o, c), min(low, o, c)
        ret = abs(close_f / prev_f - 1) if prev_f else 0.0
        vol_base = s.fwd_volume if index > s.last_index else s.bwd_volume
        volume = max(1, round(vol_base * math.exp(rng.gauss(0.0, 0.35)) * (1 + 6 * ret)))
        amount = round(volume * (o + h + low + c) / 4)
        return Bar(day, o, h, low, c, volume, amount, base, False)

    # ---- intraday -------------------------------------------------------------------------
    def quote(self, code: str, at: datetime) -> Quote | None:
        """The quote at an instant: the session in progress, or the last completed one."""
        stock = self.universe.get(code)
        if stock is None:
            return None
        at = at.astimezone(KST)
        day = at.date()
        if self.trades_on(stock, day):
            opening, closing = self.calendar.session(day)
            if opening <= at < closing:
                return Quote(self._partial_bar(code, day, opening, closing, at), "open", at)
            if at >= closing:
                final = self.bar(code, day)
                assert final is not None
                return Quote(final, "closed", at)
        last = self.last_session(stock, day, include_today=False)
        if last is None:
            return None
        final = self.bar(code, last)
        assert final is not None
        return Quote(final, "pre_open" if self.trades_on(stock, day) else "closed", at)

    def last_session(self, stock: Stock, day: date, *, include_today: bool) -> date | None:
        """The stock's latest session on or before ``day`` (strictly before unless include_today)."""
        candidate = self.calendar.on_or_before(day) if include_today else self.calendar.previous(day)
        if stock.delisted_after is not None and candidate is not None and candidate > stock.delisted_after:
            candidate = self.calendar.on_or_before(stock.delisted_after)
        if candidate is None or not self.trades_on(stock, candidate):
            return None
        return candidate

    def _partial_bar(self, code: str, day: date, opening: datetime, closing: datetime, at: datetime) -> Bar:
        final = self.bar(code, day)
        assert final is not None
        if final.open == 0:  # halted all day
            return final
        minutes = int((closing - opening).total_seconds() // 60)
        elapsed = min(minutes, int((at - opening).total_seconds() // 60))
        path, run_high, run_low = self._path_cache(code, day.toordinal(), minutes)
        fraction = elapsed / minutes
        # Volume is U-shaped over the day: heavy at the open and into the close.
        share = 0.55 * fraction**0.5 + 0.45 * fraction**2.5
        volume = round(final.volume * share)
        price = path[elapsed]
        return Bar(
            day=day,
            open=final.open,
            high=run_high[elapsed],
            low=run_low[elapsed],
            close=price,
            volume=volume,
            amount=round(volume * (final.open + price) / 2),
            prev_close=final.prev_close,
            real=final.real,
        )

    def _compute_path(self, code: str, ordinal: int, minutes: int) -> tuple[list[int], list[int], list[int]]:
        """A minute-by-minute price path from open to close touching the day's high and low."""
        final = self.bar(code, date.fromordinal(ordinal))
        assert final is not None
        rng = random.Random(f"{self.seed}:{code}:{ordinal}:path")
        t1 = round(minutes * rng.uniform(0.05, 0.45))
        t2 = round(minutes * rng.uniform(0.55, 0.95))
        first, second = (final.high, final.low) if rng.random() < 0.5 else (final.low, final.high)
        knots = [(0, float(final.open)), (t1, float(first)), (t2, float(second)), (minutes, float(final.close))]
        span = max(final.high - final.low, 1)
        path: list[int] = []
        for m in range(minutes + 1):
            for (m0, p0), (m1, p1) in itertools.pairwise(knots):
                if m0 <= m <= m1:
                    base = p0 + (p1 - p0) * ((m - m0) / (m1 - m0) if m1 > m0 else 1.0)
                    break
            wiggle = 0.0 if m in (0, t1, t2, minutes) else rng.gauss(0.0, span * 0.04)
            path.append(min(final.high, max(final.low, round_to_tick(base + wiggle))))
        run_high: list[int] = []
        run_low: list[int] = []
        hi, lo = path[0], path[0]
        for p in path:
            hi, lo = max(hi, p), min(lo, p)
            run_high.append(hi)
            run_low.append(lo)
        return path, run_high, run_low

    # ---- helpers for other modules ---------------------------------------------------------
    def closed_bar(self, code: str, day: date, now: datetime) -> Bar | None:
        """The final bar of ``day`` if that session had closed by ``now`` (end-of-day sources)."""
        bar = self.bar(code, day)
        if bar is None or now.astimezone(KST) < self.calendar.session(day)[1]:
            return None
        return bar
