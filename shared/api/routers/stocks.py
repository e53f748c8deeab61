"""Stocks: search and detail for users, prices and news per stock, management for admins."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from shared.api.deps import PaginationDep, SessionDep, StockCodePath, get_principal, require_admin
from shared.api.errors import ApiError, ConflictError, NotFoundError, error_responses
from shared.news import queries as news_queries
from shared.news.schemas import NewsPagination, NewsRead
from shared.stocks import queries as stock_queries
from shared.stocks import service as stock_service
from shared.stocks.models import DailyPrice, Market, Stock
from shared.stocks.schemas import (
    DailyPriceRead,
    PriceHistory,
    StockCreate,
    StockPagination,
    StockUpdate,
    StockWithPrice,
)

router = APIRouter(
    prefix="/api/stocks",
    tags=["stocks"],
    dependencies=[Depends(get_principal)],
    responses=error_responses(401, 422),
)
admin_only = [Depends(require_admin)]

DEFAULT_PRICE_DAYS = 90
MAX_PRICE_SPAN_DAYS = 366 * 5


async def stock_or_404(code: StockCodePath, db_session: SessionDep) -> Stock:
    """A path's stock code resolved to its row; a 404 raised in this one place."""
    stock = stock_service.get_by_code(db_session=db_session, code=code.upper())
    if stock is None:
        raise NotFoundError(f"stock {code.upper()} not found")
    return stock


ValidStock = Annotated[Stock, Depends(stock_or_404)]


def _with_price(db_session: SessionDep, stock: Stock) -> StockWithPrice:
    bars = stock_queries.latest_prices(db_session=db_session, codes=[stock.code])
    return _attach_price(stock, bars)


def _attach_price(stock: Stock, bars: dict[str, DailyPrice]) -> StockWithPrice:
    item = StockWithPrice.model_validate(stock)
    bar = bars.get(stock.code)
    item.latest_price = DailyPriceRead.model_validate(bar) if bar is not None else None
    return item


@router.get("", response_model=StockPagination)
async def list_stocks(
    db_session: SessionDep,
    page: PaginationDep,
    q: Annotated[str | None, Query(max_length=100, description="code prefix or part of the name")] = None,
    market: Market | None = None,
    sector: Annotated[str | None, Query(max_length=100)] = None,
    active: bool | None = None,
    watched: bool | None = None,
) -> StockPagination:
    """Stocks in code order, each with its latest daily bar (one query for the page's bars)."""
    stocks, total = stock_service.get_all(
        db_session=db_session,
        q=q,
        market=market,
        sector=sector,
        active=active,
        watched=watched,
        limit=page.limit,
        offset=page.offset,
    )
    bars = stock_queries.latest_prices(db_session=db_session, codes=[stock.code for stock in stocks])
    items = [_attach_price(stock, bars) for stock in stocks]
    return StockPagination(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{code}", response_model=StockWithPrice, responses=error_responses(404))
async def read_stock(stock: ValidStock, db_session: SessionDep) -> StockWithPrice:
    """The stock with its latest bar: close, change and change rate against the previous close."""
    return _with_price(db_session, stock)


@router.get("/{code}/prices", response_model=PriceHistory, responses=error_responses(400, 404))
async def read_prices(
    stock: ValidStock,
    db_session: SessionDep,
    start: date | None = None,
    end: date | None = None,
) -> PriceHistory:
    """Daily bars from start to end (inclusive). Defaults: the 90 days up to the latest bar."""
    if end is None:
        end = stock_queries.latest_price_date(db_session=db_session, code=stock.code) or date.today()
    if start is None:
        start = end - timedelta(days=DEFAULT_PRICE_DAYS)
    if start > end:
        raise ApiError("start must not be after end", code="invalid_range")
    if (end - start).days > MAX_PRICE_SPAN_DAYS:
        raise ApiError(f"a range may span at most {MAX_PRICE_SPAN_DAYS} days", code="invalid_range")
    bars = stock_queries.price_range(db_session=db_session, code=stock.code, start=start, end=end)
    return PriceHistory(
        code=stock.code, start=start, end=end, items=[DailyPriceRead.model_validate(bar) for bar in bars]
    )


@router.get("/{code}/news", response_model=NewsPagination, responses=error_responses(404))
async def read_stock_news(stock: ValidStock, db_session: SessionDep, page: PaginationDep) -> NewsPagination:
    items, total = news_queries.news_for_stock(
        db_session=db_session, stock_code=stock.code, limit=page.limit, offset=page.offset
    )
    return NewsPagination(
        items=[NewsRead.model_validate(item) for item in items], total=total, limit=page.limit, offset=page.offset
    )


# --- administration ------------------------------------------------------------------


@router.post(
    "",
    response_model=StockWithPrice,
    status_code=status.HTTP_201_CREATED,
    dependencies=admin_only,
    responses=error_responses(403, 409),
)
async def create_stock(stock_in: StockCreate, db_session: SessionDep) -> StockWithPrice:
    if stock_service.get_by_code(db_session=db_session, code=stock_in.code) is not None:
        raise ConflictError(f"stock {stock_in.code} already exists")
    stock = stock_service.create(db_session=db_session, stock_in=stock_in)
    return _with_price(db_session, stock)


@router.patch("/{code}", response_model=StockWithPrice, dependencies=admin_only, responses=error_responses(403, 404))
async def update_stock(stock: ValidStock, stock_in: StockUpdate, db_session: SessionDep) -> StockWithPrice:
    changes = stock_in.model_dump(exclude_unset=True)
    for not_nullable in ("name", "market", "active", "watched"):
        if not_nullable in changes and changes[not_nullable] is None:
            del changes[not_nullable]  # null means "no change" where the column cannot be null
    return _with_price(db_session, stock_service.update(db_session=db_session, stock=stock, stock_in=changes))


def _set_flag(db_session: SessionDep, stock: Stock, **flag: bool) -> StockWithPrice:
    return _with_price(db_session, stock_service.update(db_session=db_session, stock=stock, stock_in=flag))


@router.post(
    "/{code}/activate", response_model=StockWithPrice, dependencies=admin_only, responses=error_responses(403, 404)
)
async def activate_stock(stock: ValidStock, db_session: SessionDep) -> StockWithPrice:
    return _set_flag(db_session, stock, active=True)


@router.post(
    "/{code}/deactivate", response_model=StockWithPrice, dependencies=admin_only, responses=error_responses(403, 404)
)
async def deactivate_stock(stock: ValidStock, db_session: SessionDep) -> StockWithPrice:
    """Predict and crawl skip it from now on; its history stays."""
    return _set_flag(db_session, stock, active=False)


@router.post(
    "/{code}/watch", response_model=StockWithPrice, dependencies=admin_only, responses=error_responses(403, 404)
)
async def watch_stock(stock: ValidStock, db_session: SessionDep) -> StockWithPrice:
    """Watched stocks get intraday quotes and move alerts."""
    return _set_flag(db_session, stock, watched=True)


@router.post(
    "/{code}/unwatch", response_model=StockWithPrice, dependencies=admin_only, responses=error_responses(403, 404)
)
async def unwatch_stock(stock: ValidStock, db_session: SessionDep) -> StockWithPrice:
    return _set_flag(db_session, stock, watched=False)
