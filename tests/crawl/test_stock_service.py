"""The stocks service functions the API and the predict/evaluate functions read through."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from shared.sources.records import DailyPriceRecord
from shared.stocks import service as stock_service
from shared.stocks.models import Market, Stock


def _seed(db_session: Session) -> None:
    for code, name, market, sector, watched in [
        ("005930", "삼성전자", Market.KOSPI, None, True),
        ("005935", "삼성전자우", Market.KOSPI, None, False),
        ("000660", "SK하이닉스", Market.KOSPI, None, False),
        ("247540", "에코프로비엠", Market.KOSDAQ, "우량기업부", True),
        ("1_%xyz", "100%_이름", Market.KOSDAQ, None, False),
    ]:
        db_session.add(Stock(code=code[:6], name=name, market=market, sector=sector, watched=watched, active=True))
    db_session.commit()


def _bar(code: str, day: date, close: int) -> DailyPriceRecord:
    return DailyPriceRecord(code=code, name=None, market=None, isin=None, day=day, open=close, high=close,
                            low=close, close=close, volume=1, value=close, change=0, change_rate=0.0,
                            market_cap=None)  # fmt: skip


def test_get_all_filters_searches_and_pages_in_code_order(db_session: Session) -> None:
    _seed(db_session)
    rows, total = stock_service.get_all(db_session=db_session, limit=2, offset=0)
    assert total == 5 and [s.code for s in rows] == ["000660", "005930"]
    rows, total = stock_service.get_all(db_session=db_session, q="삼성", limit=10, offset=0)
    assert [s.code for s in rows] == ["005930", "005935"] and total == 2
    rows, _ = stock_service.get_all(db_session=db_session, q="0059", limit=10, offset=0)
    assert [s.code for s in rows] == ["005930", "005935"]
    rows, _ = stock_service.get_all(db_session=db_session, q="sk", limit=10, offset=0)
    assert [s.code for s in rows] == ["000660"]
    rows, _ = stock_service.get_all(db_session=db_session, q="%", limit=10, offset=0)
    assert [s.name for s in rows] == ["100%_이름"]  # wildcards are literal
    rows, _ = stock_service.get_all(db_session=db_session, market="KOSDAQ", watched=True, limit=10, offset=0)
    assert [s.code for s in rows] == ["247540"]
    rows, _ = stock_service.get_all(db_session=db_session, sector="우량기업부", active=True, limit=10, offset=0)
    assert [s.code for s in rows] == ["247540"]


def test_create_update_and_get_by_code(db_session: Session) -> None:
    stock_service.create(db_session=db_session, stock_in={"code": "035420", "name": "NAVER", "market": Market.KOSPI})
    stock = stock_service.get_by_code(db_session=db_session, code="035420")
    assert stock is not None and stock.active is True and stock.watched is False
    stock_service.update(db_session=db_session, stock=stock, stock_in={"watched": True, "code": "999999"})
    assert stock_service.get_by_code(db_session=db_session, code="035420").watched is True  # type: ignore[union-attr]
    assert stock_service.get_by_code(db_session=db_session, code="999999") is None
    assert [s.code for s in stock_service.list_active(db_session=db_session)] == ["035420"]


def test_price_history_and_closes(db_session: Session) -> None:
    _seed(db_session)
    days = [date(2024, 1, d) for d in (2, 3, 4, 5, 8)]
    stock_service.upsert_daily_prices(
        db_session=db_session, records=[_bar("005930", day, 70_000 + i) for i, day in enumerate(days)]
    )
    stock_service.upsert_daily_prices(db_session=db_session, records=[_bar("000660", days[0], 130_000)])
    db_session.commit()
    history = stock_service.price_history(db_session=db_session, code="005930", until=date(2024, 1, 5), limit=3)
    assert [bar.date for bar in history] == days[1:4]
    assert stock_service.closes_on(db_session=db_session, day=days[0]) == {"005930": 70_000, "000660": 130_000}
    assert stock_service.closes_on(db_session=db_session, day=date(2024, 1, 6)) == {}


def test_upsert_of_nothing_is_a_no_op(db_session: Session) -> None:
    assert stock_service.upsert_daily_prices(db_session=db_session, records=[]) == stock_service.UpsertCounts()
    assert stock_service.ensure_stocks(db_session=db_session, records=[]) == 0


def test_names_with_array_syntax_survive_the_bulk_path(db_session: Session) -> None:
    from shared.sources.records import ListingRecord

    names = ['따옴표"회사', "쉼표,회사", "역슬래시\\회사", "{중괄호}", "NULL", " 공백 "]
    records = [
        ListingRecord(code=f"90000{i}", name=name, market=Market.KOSDAQ, sector=None, isin=None, listed_on=None)
        for i, name in enumerate(names)
    ]
    counts = stock_service.upsert_listing(db_session=db_session, records=records)
    db_session.commit()
    assert counts.inserted == len(names)
    stored = {s.code: s.name for s in stock_service.list_active(db_session=db_session)}
    assert [stored[f"90000{i}"] for i in range(len(names))] == names
