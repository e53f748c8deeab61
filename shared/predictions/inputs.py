"""What a model sees for one stock on one day: prices up to the as-of close, news before the open."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
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
    rows = db_session.execute(
        select(DailyPrice.date, DailyPrice.close, DailyPrice.volume, DailyPrice.change_rate)
        .where(DailyPrice.code == code, DailyPrice.date <= until)
        .order_by(DailyPrice.date.desc())
        .limit(limit)
    ).all()
    return [PricePoint(day=row[0], close=row[1], volume=row[2], change_rate=row[3]) for row in reversed(rows)]


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
    return [
        PredictionInput(
            stock_code=stock.code,
            stock_name=stock.name,
            as_of_date=as_of_date,
            target_date=target_date,
            cutoff=cutoff,
            prices=price_history(db_session=db_session, code=stock.code, until=as_of_date, limit=history_days + 1),
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
