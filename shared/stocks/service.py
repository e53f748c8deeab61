"""Stocks and daily prices: the only place their tables are written.

Reads serve the API and the predict/evaluate functions; the bulk upserts serve crawl.
Bulk writes are set-based (`INSERT … SELECT FROM unnest(arrays) ON CONFLICT DO UPDATE … WHERE
IS DISTINCT FROM`: one statement and one parameter per column for a whole day), so
a re-run of the same day rewrites nothing and says so: `RETURNING (xmax = 0)` tells a
fresh insert from an update, and rows the WHERE filtered out are the unchanged ones.
Bulk functions leave the commit to the caller's unit of work (one transaction per batch).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    Select,
    String,
    Text,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    null,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy import update as sql_update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert
from sqlalchemy.types import TypeEngine

from shared.sources.records import DailyPriceRecord, ListingRecord
from shared.stocks.models import DailyPrice, Market, Stock

# A "complete" listing smaller than this share of the active stocks is not trusted to
# deactivate anything: a truncated upstream answer must not retire half the market.
MIN_COMPLETE_LISTING_SHARE = 0.8

_PRICE_COLUMNS = ("open", "high", "low", "close", "volume", "value", "change", "change_rate", "market_cap")
_LISTING_COLUMNS = ("name", "market", "sector", "isin", "listed_on", "active")


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True, slots=True)
class ListingCounts:
    inserted: int
    updated: int
    unchanged: int
    deactivated: int
    deactivation_skipped: bool


def _fields(stock_in: BaseModel | Mapping[str, Any], *, only_set: bool) -> dict[str, Any]:
    if isinstance(stock_in, BaseModel):
        return stock_in.model_dump(exclude_unset=only_set)
    return dict(stock_in)


# --- reads --------------------------------------------------------------------


def get_by_code(*, db_session: Session, code: str) -> Stock | None:
    return db_session.get(Stock, code)


def get_all(
    *,
    db_session: Session,
    q: str | None = None,
    market: Market | str | None = None,
    sector: str | None = None,
    active: bool | None = None,
    watched: bool | None = None,
    limit: int,
    offset: int,
) -> tuple[list[Stock], int]:
    """A page of stocks in code order and the total matching; `q` is a code prefix or part of the name."""
    conditions: list[Any] = []
    if q is not None and q.strip():
        term = q.strip()
        conditions.append(
            or_(Stock.code.startswith(term.upper(), autoescape=True), Stock.name.icontains(term, autoescape=True))
        )
    if market is not None:
        conditions.append(Stock.market == Market(market))
    if sector is not None:
        conditions.append(Stock.sector == sector)
    if active is not None:
        conditions.append(Stock.active.is_(active))
    if watched is not None:
        conditions.append(Stock.watched.is_(watched))
    total = db_session.scalar(select(func.count()).select_from(Stock).where(*conditions)) or 0
    rows = db_session.scalars(select(Stock).where(*conditions).order_by(Stock.code).limit(limit).offset(offset))
    return list(rows), int(total)


def list_active(*, db_session: Session) -> list[Stock]:
    return list(db_session.scalars(select(Stock).where(Stock.active.is_(True)).order_by(Stock.code)))


def list_watched(*, db_session: Session) -> list[Stock]:
    query = select(Stock).where(Stock.active.is_(True), Stock.watched.is_(True)).order_by(Stock.code)
    return list(db_session.scalars(query))


def names_by_code(*, db_session: Session, active_only: bool = True) -> dict[str, str]:
    query = select(Stock.code, Stock.name)
    if active_only:
        query = query.where(Stock.active.is_(True))
    return {code: name for code, name in db_session.execute(query)}


def price_history(*, db_session: Session, code: str, until: date, limit: int) -> list[DailyPrice]:
    """The last `limit` bars on or before `until`, oldest first."""
    newest = (
        select(DailyPrice)
        .where(DailyPrice.code == code, DailyPrice.date <= until)
        .order_by(DailyPrice.date.desc())
        .limit(limit)
    )
    return sorted(db_session.scalars(newest), key=lambda bar: bar.date)


def closes_on(*, db_session: Session, day: date) -> dict[str, int]:
    rows = db_session.execute(select(DailyPrice.code, DailyPrice.close).where(DailyPrice.date == day))
    return {code: close for code, close in rows}


def dates_with_prices(*, db_session: Session, start: date, end: date) -> dict[date, int]:
    """How many bars each day in a range already has (ops checks, backfill planning)."""
    query = select(DailyPrice.date, func.count()).where(DailyPrice.date.between(start, end)).group_by(DailyPrice.date)
    return {day: int(count) for day, count in db_session.execute(query)}


# --- single-row writes (API) ----------------------------------------------------


def create(*, db_session: Session, stock_in: BaseModel | Mapping[str, Any]) -> Stock:
    """`stock_in`: the API's create schema (or a mapping of Stock columns)."""
    stock = Stock(**_fields(stock_in, only_set=False))
    db_session.add(stock)
    db_session.commit()
    return stock


def update(*, db_session: Session, stock: Stock, stock_in: BaseModel | Mapping[str, Any]) -> Stock:
    """Apply the fields the client set; a code never changes (it is the key)."""
    for name, value in _fields(stock_in, only_set=True).items():
        if name == "code":
            continue
        setattr(stock, name, value)
    db_session.commit()
    return stock


# --- bulk writes (crawl) ----------------------------------------------------------

_PRICE_TYPES: dict[str, TypeEngine[Any]] = {
    "code": String(),
    "date": Date(),
    **{column: BigInteger() for column in _PRICE_COLUMNS if column != "change_rate"},
    "change_rate": Float(),
}
_STOCK_TYPES: dict[str, TypeEngine[Any]] = {
    "code": String(),
    "name": String(),
    # A VARCHAR+CHECK column (str_enum): sent as its text value.
    "market": String(),
    "sector": String(),
    "isin": String(),
    "listed_on": Date(),
    "active": Boolean(),
}


def _array_literal(values: Iterable[Any]) -> str:
    """A Postgres array literal (`{"005930","000660",NULL}`): one text parameter per column.

    pg8000 converts list parameters element by element (a Python call per value); for a
    whole market day that costs more than the upsert itself, so the batch travels as text
    and Postgres parses it. Every element is quoted, so names with commas, quotes, braces
    or backslashes survive.
    """
    parts = []
    for value in values:
        if value is None:
            parts.append("NULL")
            continue
        text = value.isoformat() if isinstance(value, date) else str(value)
        parts.append('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "{" + ",".join(parts) + "}"


def _unnest(types: Mapping[str, TypeEngine[Any]], rows: Sequence[Mapping[str, Any]]) -> Select[Any]:
    """`SELECT * FROM unnest(:col1::type[], :col2::type[], …)`: a whole batch as one statement with one
    parameter per column (not per value) — an order of magnitude faster than multi-row VALUES.
    """
    arrays = [
        cast(bindparam(f"{name}_values", _array_literal(row[name] for row in rows), type_=Text()), ARRAY(sql_type))
        for name, sql_type in types.items()
    ]
    derived = func.unnest(*arrays).table_valued(*types).render_derived()
    return select(*(derived.c[name] for name in types))


def upsert_daily_prices(*, db_session: Session, records: Sequence[DailyPriceRecord]) -> UpsertCounts:
    """Insert or correct bars; a bar identical to the stored one is left alone and counted unchanged."""
    by_key = {(record.code, record.day): record for record in records}  # the last word on a key wins
    if not by_key:
        return UpsertCounts()
    rows = [
        {"code": r.code, "date": r.day, **{column: getattr(r, column) for column in _PRICE_COLUMNS}}
        for r in by_key.values()
    ]
    insert = pg_insert(DailyPrice).from_select(list(_PRICE_TYPES), _unnest(_PRICE_TYPES, rows))
    excluded = insert.excluded
    statement: ReturningInsert[tuple[bool]] = insert.on_conflict_do_update(
        index_elements=[DailyPrice.code, DailyPrice.date],
        set_={column: excluded[column] for column in _PRICE_COLUMNS},
        where=tuple_(*(DailyPrice.__table__.c[column] for column in _PRICE_COLUMNS)).is_distinct_from(
            tuple_(*(excluded[column] for column in _PRICE_COLUMNS))
        ),
    ).returning(literal_column("xmax = 0"))
    flags = [was_insert for (was_insert,) in db_session.execute(statement)]
    inserted = sum(1 for flag in flags if flag)
    updated = len(flags) - inserted
    return UpsertCounts(inserted=inserted, updated=updated, unchanged=len(rows) - inserted - updated)


def ensure_stocks(*, db_session: Session, records: Iterable[DailyPriceRecord]) -> int:
    """Create stocks a price row names but the listing has not yet; returns how many were new."""
    rows: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.name and record.market is not None and record.code not in rows:
            rows[record.code] = {
                "code": record.code,
                "name": record.name,
                "market": record.market.value,
                "sector": None,
                "isin": record.isin,
                "listed_on": None,
                "active": True,
            }
    if not rows:
        return 0
    statement = (
        pg_insert(Stock)
        .from_select(list(_STOCK_TYPES), _unnest(_STOCK_TYPES, list(rows.values())))
        .on_conflict_do_nothing(index_elements=[Stock.code])
        .returning(Stock.code)
    )
    return len(db_session.execute(statement).all())


def upsert_listing(
    *,
    db_session: Session,
    records: Sequence[ListingRecord],
    complete_for: Iterable[Market] = (),
    also_listed: Iterable[str] = (),
) -> ListingCounts:
    """Add new listings, update changed ones, reactivate the ones the listing itself retired.

    `complete_for` names the markets this listing covers in full: their stocks missing
    from it are marked inactive (never deleted: prices and predictions refer to them).
    `also_listed` are codes the listing did name but whose rows could not be used.
    """
    by_code = {record.code: record for record in records}
    rows = [
        {
            "code": r.code,
            "name": r.name,
            "market": r.market.value,
            "sector": r.sector,
            "isin": r.isin,
            "listed_on": r.listed_on,
            "active": True,
        }
        for r in by_code.values()
    ]
    inserted = updated = 0
    if rows:
        table = Stock.__table__
        insert = pg_insert(Stock).from_select(list(_STOCK_TYPES), _unnest(_STOCK_TYPES, rows))
        excluded = insert.excluded
        new_values = {
            "name": excluded.name,
            "market": excluded.market,
            "sector": excluded.sector,
            "isin": func.coalesce(excluded.isin, table.c.isin),
            "listed_on": func.coalesce(excluded.listed_on, table.c.listed_on),
            # Back on the listing: what the listing retired returns; an admin's "off" stays off.
            "active": case((table.c.delisted_at.is_not(None), true()), else_=table.c.active),
        }
        statement: ReturningInsert[tuple[bool]] = insert.on_conflict_do_update(
            index_elements=[Stock.code],
            set_={**new_values, "delisted_at": None, "updated_at": func.now()},
            where=tuple_(*(table.c[column] for column in _LISTING_COLUMNS), table.c.delisted_at).is_distinct_from(
                tuple_(*(new_values[column] for column in _LISTING_COLUMNS), null())
            ),
        ).returning(literal_column("xmax = 0"))
        flags = [was_insert for (was_insert,) in db_session.execute(statement)]
        inserted = sum(1 for flag in flags if flag)
        updated = len(flags) - inserted

    deactivated, skipped = _deactivate_missing(
        db_session=db_session, listed=set(by_code) | set(also_listed), markets=set(complete_for)
    )
    return ListingCounts(
        inserted=inserted,
        updated=updated,
        unchanged=len(rows) - inserted - updated,
        deactivated=deactivated,
        deactivation_skipped=skipped,
    )


def _deactivate_missing(*, db_session: Session, listed: set[str], markets: set[Market]) -> tuple[int, bool]:
    if not markets:
        return 0, False
    active_codes = set(db_session.scalars(select(Stock.code).where(Stock.active.is_(True), Stock.market.in_(markets))))
    missing = sorted(active_codes - listed)
    if not missing:
        return 0, False
    if len(active_codes & listed) < MIN_COMPLETE_LISTING_SHARE * len(active_codes):
        return 0, True
    result = db_session.execute(
        sql_update(Stock)
        .where(Stock.code.in_(missing), Stock.active.is_(True))
        .values(active=False, delisted_at=func.now(), updated_at=func.now())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0), False
