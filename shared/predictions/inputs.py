"""What a model sees for one stock on one day: prices up to the as-of close, news before the open."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Select, String, bindparam, func, select
from sqlalchemy.orm import Session

from shared.market_calendar import market_open_at
from shared.news.models import News
from shared.news.retrieval import retrieve_for_stocks
from shared.stocks.models import DailyPrice, Stock


@dataclass(frozen=True, slots=True)
class PricePoint:
    day: date
    close: int
    volume: int
    change_rate: float


@dataclass(frozen=True, slots=True)
class NewsEvidence:
    news_id: int
    title: str
    summary: str
    published_at: datetime


@dataclass(frozen=True, slots=True)
class PredictionInput:
    stock_code: str
    stock_name: str
    as_of_date: date
    target_date: date
    cutoff: datetime
    prices: list[PricePoint] = field(default_factory=list)
    news: list[NewsEvidence] = field(default_factory=list)
    retrieval_method: str = "recent"

    def daily_returns(self) -> list[float]:
        closes = [point.close for point in self.prices]
        return [current / previous - 1 for previous, current in itertools.pairwise(closes) if previous]


def price_history(*, db_session: Session, code: str, until: date, limit: int) -> list[PricePoint]:
    """The last `limit` closes on or before `until`, oldest first."""
    return price_histories(db_session=db_session, codes=[code], until=until, limit=limit)[code]


def price_histories(*, db_session: Session, codes: list[str], until: date, limit: int) -> dict[str, list[PricePoint]]:
    """Each stock's last `limit` closes on or before `until`, oldest first, in one query."""
    rows = db_session.execute(_PRICE_HISTORIES, {"codes": codes, "until": until, "limit": limit}).all()
    histories: dict[str, list[PricePoint]] = {code: [] for code in codes}
    for code, day, close, volume, change_rate in rows:
        # The day comes as ISO text: the driver parses a DATE with strptime, several times
        # slower, and a batch reads a few hundred of them.
        histories[code].append(
            PricePoint(day=date.fromisoformat(day), close=close, volume=volume, change_rate=change_rate)
        )
    return histories


def _price_histories_query() -> Select[str, str, int, int, float]:
    """Built once (and compiled once): the statement's shape never changes, only its parameters."""
    ranked = (
        select(
            DailyPrice.code,
            DailyPrice.date,
            DailyPrice.close,
            DailyPrice.volume,
            DailyPrice.change_rate,
            func.row_number().over(partition_by=DailyPrice.code, order_by=DailyPrice.date.desc()).label("rank"),
        )
        .where(DailyPrice.code.in_(bindparam("codes", expanding=True)), DailyPrice.date <= bindparam("until"))
        .subquery()
    )
    return (
        select(
            ranked.c.code,
            func.to_char(ranked.c.date, "YYYY-MM-DD", type_=String),
            ranked.c.close,
            ranked.c.volume,
            ranked.c.change_rate,
        )
        .where(ranked.c.rank <= bindparam("limit"))
        .order_by(ranked.c.code, ranked.c.date)
    )


_PRICE_HISTORIES = _price_histories_query()


def gather_inputs(
    *,
    db_session: Session,
    stocks: list[Stock],
    as_of_date: date,
    target_date: date,
    history_days: int,
    news_k: int,
) -> list[PredictionInput]:
    """Inputs for a batch of stocks; news for the whole batch comes from one retrieval."""
    cutoff = market_open_at(target_date)
    retrieved = retrieve_for_stocks(
        db_session=db_session,
        queries={stock.code: f"{stock.name} 주가 실적 전망" for stock in stocks},
        published_before=cutoff,
        k=news_k,
    )
    histories = price_histories(
        db_session=db_session, codes=[stock.code for stock in stocks], until=as_of_date, limit=history_days + 1
    )
    return [
        PredictionInput(
            stock_code=stock.code,
            stock_name=stock.name,
            as_of_date=as_of_date,
            target_date=target_date,
            cutoff=cutoff,
            prices=histories[stock.code],
            news=[_evidence(item) for item in retrieved[stock.code].items],
            retrieval_method=retrieved[stock.code].method,
        )
        for stock in stocks
    ]


def gather_input(
    *,
    db_session: Session,
    stock: Stock,
    as_of_date: date,
    target_date: date,
    history_days: int,
    news_k: int,
) -> PredictionInput:
    return gather_inputs(
        db_session=db_session,
        stocks=[stock],
        as_of_date=as_of_date,
        target_date=target_date,
        history_days=history_days,
        news_k=news_k,
    )[0]


def _evidence(item: News) -> NewsEvidence:
    return NewsEvidence(news_id=item.id, title=item.title, summary=item.summary, published_at=item.published_at)
