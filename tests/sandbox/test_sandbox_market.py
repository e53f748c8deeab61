"""The market model: real rows where packaged, deterministic realistic walks elsewhere."""

from __future__ import annotations

import statistics
import time
from datetime import date, datetime, timedelta

import pytest

from sandbox.market import Market
from sandbox.server import SandboxServer
from sandbox.ticks import round_to_tick, tick_size
from sandbox.trading_calendar import KST, TradingCalendar
from sandbox.universe import Universe


@pytest.fixture(scope="module")
def market() -> Market:
    return Market(Universe("default"), seed=42)


def test_default_universe_is_the_thirty_kospi_names_plus_ten_kosdaq() -> None:
    universe = Universe("default")
    markets = [s.market_id for s in universe.stocks]
    assert markets.count("STK") == 30
    assert markets.count("KSQ") == 10
    samsung = universe.get("005930")
    assert samsung is not None
    assert (samsung.name, samsung.isin, samsung.segment) == ("삼성전자", "KR7005930003", "KOSPI")
    ecopro = universe.get("247540")
    assert ecopro is not None and ecopro.segment == "KOSDAQ GLOBAL" and ecopro.market_name == "KOSDAQ"


def test_real_rows_from_both_tables(market: Market) -> None:
    # 2024-01-02 comes from the whole-market table, 2021-01-04 from the 30-stock table.
    jan_2024 = market.bar("005930", date(2024, 1, 2))
    assert jan_2024 is not None and jan_2024.real
    assert (jan_2024.open, jan_2024.high, jan_2024.low, jan_2024.close) == (78200, 79800, 78200, 79600)
    assert jan_2024.volume == 17_142_847 and jan_2024.prev_close == 78500
    jan_2021 = market.bar("005930", date(2021, 1, 4))
    assert jan_2021 is not None and jan_2021.real
    assert (jan_2021.close, jan_2021.volume, jan_2021.prev_close) == (83000, 38_655_276, 81000)
    kosdaq = market.bar("247540", date(2024, 1, 2))  # 에코프로비엠: only early 2024 is real
    assert kosdaq is not None and kosdaq.real and kosdaq.close == 283_500 and kosdaq.prev_close == 288_000


def test_rescaled_series_meets_raw_krx_prices(market: Market) -> None:
    # 한화에어로스페이스's 30-stock history is adjusted for a 2025 rights issue; the sandbox serves raw.
    last_2023 = market.bar("012450", date(2023, 12, 28))
    first_2024 = market.bar("012450", date(2024, 1, 2))
    assert last_2023 is not None and first_2024 is not None
    assert first_2024.close == 129_700
    assert abs(first_2024.prev_close / last_2023.close - 1) < 1e-9
    assert last_2023.close == round_to_tick(last_2023.close)


def test_non_trading_days_have_no_bar(market: Market) -> None:
    assert market.bar("005930", date(2024, 1, 6)) is None  # Saturday
    assert market.bar("005930", date(2024, 2, 9)) is None  # Lunar New Year
    assert market.bar("005930", date(2023, 12, 29)) is None  # year-end closure
    assert market.bar("373220", date(2021, 6, 1)) is None  # LG에너지솔루션 listed 2022-01-27
    assert market.bar("373220", date(2022, 1, 27)) is not None


def test_generated_days_are_plausible(market: Market) -> None:
    days = market.calendar.between(date(2025, 1, 2), date(2025, 12, 30))
    bars = [market.bar("005930", d) for d in days]
    assert all(b is not None and not b.real for b in bars)
    returns = [b.day_return for b in bars if b is not None]
    assert 0.008 < statistics.pstdev(returns) < 0.035
    for bar in bars:
        assert bar is not None
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
        for price in (bar.open, bar.high, bar.low, bar.close):
            assert price % tick_size(price) == 0 or price % tick_size(price - 1) == 0
        assert bar.volume > 0 and bar.amount > 0
        assert abs(bar.day_return) <= 0.3


def test_generation_continues_from_real_closes(market: Market) -> None:
    last_real = market.bar("005930", date(2024, 12, 16))
    next_day = market.bar("005930", date(2024, 12, 17))
    assert last_real is not None and last_real.real and next_day is not None and not next_day.real
    assert next_day.prev_close == last_real.close
    before_kosdaq = market.bar("247540", date(2023, 12, 28))  # generated, ends at the real previous close
    assert before_kosdaq is not None and not before_kosdaq.real and before_kosdaq.close == 288_000


def test_prices_do_not_depend_on_request_order() -> None:
    a = Market(Universe("default"), seed=7)
    b = Market(Universe("default"), seed=7)
    far, near = date(2026, 6, 1), date(2025, 2, 3)
    assert a.bar("035720", far) == b.bar("035720", far)
    b.bar("035720", near)
    assert a.bar("035720", near) == b.bar("035720", near)
    c = Market(Universe("default"), seed=8)
    assert c.bar("035720", far) != a.bar("035720", far)
    assert c.bar("005930", date(2024, 1, 2)) == a.bar("005930", date(2024, 1, 2))  # real data ignores seed


def test_intraday_quote_moves_from_open_to_close(market: Market) -> None:
    day = date(2024, 1, 5)
    final = market.bar("005930", day)
    assert final is not None
    before = market.quote("005930", datetime(2024, 1, 5, 8, 30, tzinfo=KST))
    assert before is not None and before.state == "pre_open" and before.bar.day == date(2024, 1, 4)
    volumes = []
    for minute in range(0, 390, 13):
        q = market.quote("005930", datetime(2024, 1, 5, 9, 0, tzinfo=KST) + timedelta(minutes=minute))
        assert q is not None and q.state == "open"
        assert final.low <= q.bar.low <= q.bar.close <= q.bar.high <= final.high
        assert q.bar.open == final.open
        volumes.append(q.bar.volume)
    assert volumes == sorted(volumes) and volumes[-1] < final.volume
    after = market.quote("005930", datetime(2024, 1, 5, 15, 45, tzinfo=KST))
    assert after is not None and after.state == "closed" and after.bar == final
    weekend = market.quote("005930", datetime(2024, 1, 6, 11, 0, tzinfo=KST))
    assert weekend is not None and weekend.bar == final


def test_first_session_of_the_year_opens_at_ten() -> None:
    calendar = TradingCalendar()
    opening, closing = calendar.session(date(2024, 1, 2))
    assert (opening.hour, closing.hour, closing.minute) == (10, 15, 30)
    assert calendar.session(date(2024, 1, 3))[0].hour == 9


def test_default_universe_loads_fast_and_leaves_the_full_table_alone() -> None:
    started = time.perf_counter()
    market = Market(Universe("default"), seed=1)
    market.bar("005930", date(2024, 1, 5))
    assert time.perf_counter() - started < 1.0
    with pytest.raises(KeyError):
        market.series("091990")  # only in the full universe


def test_full_universe_has_every_stock_and_delistings() -> None:
    market = Market(Universe("full"), seed=42)
    assert len(market.universe) > 2700
    # 셀트리온헬스케어 merged into 셀트리온 in January 2024: no sessions after its last day.
    assert market.bar("091990", date(2024, 1, 11)) is not None
    assert market.bar("091990", date(2024, 1, 12)) is None


def test_warm_precomputes_the_clock_sessions(srv: SandboxServer) -> None:
    srv.set_clock(datetime(2026, 11, 25, 9, 0, tzinfo=KST))
    srv.warm()
    info = srv.market._bar_cache.cache_info()
    srv.market.bar("005930", date(2026, 11, 24))
    assert srv.market._bar_cache.cache_info().hits == info.hits + 1
