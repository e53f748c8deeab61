"""Read-only stock queries the API needs beyond the stocks service: latest bars and ranges."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.stocks.models import DailyPrice


def latest_prices(*, db_session: Session, codes: Sequence[str]) -> dict[str, DailyPrice]:
    """Each code's most recent bar, in one statement (DISTINCT ON over the (code, date) key)."""
    if not codes:
        return {}
    bars = db_session.scalars(
        select(DailyPrice)
        .where(DailyPrice.code.in_(list(codes)))
        .order_by(DailyPrice.code, DailyPrice.date.desc())
        .distinct(DailyPrice.code)
    )
    return {bar.code: bar for bar in bars}


def latest_price_date(*, db_session: Session, code: str) -> date | None:
    return db_session.scalar(
        select(DailyPrice.date).where(DailyPrice.code == code).order_by(DailyPrice.date.desc()).limit(1)
    )


def price_range(*, db_session: Session, code: str, start: date, end: date) -> list[DailyPrice]:
    """Bars from start to end inclusive, oldest first."""
    return list(
        db_session.scalars(
            select(DailyPrice)
            .where(DailyPrice.code == code, DailyPrice.date >= start, DailyPrice.date <= end)
            .order_by(DailyPrice.date)
        )
    )
