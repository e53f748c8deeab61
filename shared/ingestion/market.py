"""KRX → Postgres: the listing (stocks) and end-of-day prices (daily_prices).

One KRX call returns the whole market for a day, and one day is one transaction: a run
that dies mid-backfill leaves complete days behind it and no half-written one, and the
re-run rewrites nothing (the upsert only touches rows whose values changed).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

import httpx

from shared.db.session import session_scope
from shared.ingestion.options import CrawlOptions
from shared.jobs.service import JobCounts
from shared.market_calendar import KST, is_trading_day, market_close_at, previous_trading_day
from shared.sources.http import UpstreamUnavailableError
from shared.sources.krx import KrxSource
from shared.sources.records import ParsedBatch, RejectedRow
from shared.stocks import service as stock_service

log = logging.getLogger(__name__)

# After the 15:30 closing auction KRX needs a few minutes to settle the day's figures.
SESSION_SETTLE = timedelta(minutes=10)
# Rejected rows logged one by one per batch; the rest are only counted.
MAX_LOGGED_REJECTS = 20


class IncompleteBackfillError(RuntimeError):
    """Some days of a range could not be fetched; the others were stored. Re-run the range."""


def log_rejected(rows: list[RejectedRow], *, what: str) -> None:
    for row in rows[:MAX_LOGGED_REJECTS]:
        log.warning("malformed upstream record skipped", extra={"what": what, "reason": row.reason, "raw": row.raw})
    if len(rows) > MAX_LOGGED_REJECTS:
        log.warning("more malformed records skipped", extra={"what": what, "count": len(rows) - MAX_LOGGED_REJECTS})


def ingest_listing(*, source: KrxSource, day: date, counts: JobCounts, options: CrawlOptions) -> dict[str, Any]:
    """Upsert every listed stock; stocks missing from this complete listing become inactive."""
    basis = day if is_trading_day(day) else previous_trading_day(day)
    batch = source.listing(basis)
    counts["fetched"] += len(batch.records) + len(batch.rejected)
    counts["failed"] += len(batch.rejected)
    log_rejected(batch.rejected, what="krx listing")
    if not batch.records:
        raise RuntimeError(f"KRX returned an empty listing for {basis}; nothing was changed")
    # A rejected row is still listed: never retire a stock because its row was malformed.
    still_listed = {str(row.raw.get("ISU_SRT_CD", "")).strip() for row in batch.rejected}
    with session_scope() as db_session:
        result = stock_service.upsert_listing(
            db_session=db_session, records=batch.records, complete_for=options.markets, also_listed=still_listed
        )
    counts["inserted"] += result.inserted
    counts["updated"] += result.updated
    counts["unchanged"] += result.unchanged
    counts["deactivated"] += result.deactivated
    if result.deactivation_skipped:
        log.warning("listing looks truncated; no stock was deactivated", extra={"listed": len(batch.records)})
    return {"listing_date": basis.isoformat(), "deactivation_skipped": result.deactivation_skipped}


def ingest_prices(
    *, source: KrxSource, days: Iterable[date], counts: JobCounts, stop_on_error: bool = True
) -> dict[str, Any]:
    """Store each trading day's bars; non-trading days are skipped, unpublished days reported."""
    unpublished_days: list[str] = []
    failed_days: dict[str, str] = {}
    stored_days: list[str] = []
    now = datetime.now(KST)
    for day in days:
        if not is_trading_day(day):
            counts["skipped_non_trading_day"] += 1
            continue
        if day == now.date() and now < market_close_at(day) + SESSION_SETTLE:
            # KRX shows the session's live numbers until the close: not the day's bar.
            counts["skipped_session_open"] += 1
            log.info("trading day still in session; its bar is not final", extra={"day": day.isoformat()})
            continue
        try:
            batch = source.daily_prices(day)
        except (UpstreamUnavailableError, httpx.TransportError) as exc:
            if stop_on_error:
                raise
            failed_days[day.isoformat()] = f"{type(exc).__name__}: {exc}"[:300]
            counts["failed_days"] += 1
            log.warning("krx prices unavailable for a day of the range", extra={"day": day.isoformat()})
            continue
        if _store_day(day=day, batch=batch, counts=counts):
            stored_days.append(day.isoformat())
        else:
            unpublished_days.append(day.isoformat())
    details: dict[str, Any] = {"stored_days": len(stored_days)}
    if unpublished_days:
        details["unpublished_days"] = unpublished_days
    if failed_days:
        details["failed_days"] = failed_days
        raise IncompleteBackfillError(
            f"{len(failed_days)} trading day(s) could not be fetched ({', '.join(sorted(failed_days))}); "
            f"{len(stored_days)} day(s) were stored"
        )
    return details


def _store_day(*, day: date, batch: ParsedBatch[Any], counts: JobCounts) -> bool:
    """One day in one transaction; False when KRX has not published the day yet."""
    counts["fetched"] += len(batch.records) + len(batch.rejected) + len(batch.unpublished)
    counts["failed"] += len(batch.rejected)
    log_rejected(batch.rejected, what=f"krx prices {day}")
    if batch.unpublished:
        counts["unpublished"] += len(batch.unpublished)
    if not batch.records:
        log.warning(
            "krx has not published this trading day yet; nothing stored",
            extra={"day": day.isoformat(), "unpublished_rows": len(batch.unpublished)},
        )
        return False
    if batch.unpublished:
        log.warning(
            "some stocks have no published bar for the day",
            extra={"day": day.isoformat(), "codes": batch.unpublished[:20], "count": len(batch.unpublished)},
        )
    with session_scope() as db_session:
        created = stock_service.ensure_stocks(db_session=db_session, records=batch.records)
        result = stock_service.upsert_daily_prices(db_session=db_session, records=batch.records)
    counts["stocks_created"] += created
    counts["inserted"] += result.inserted
    counts["updated"] += result.updated
    counts["unchanged"] += result.unchanged
    return True
