"""KIS quotes for watched stocks: intraday move alerts, and daily-chart backfills.

Intraday quotes are not stored as bars: a bar written at 11:00 is not the day's bar, and
KRX's end-of-day file is the source of truth for `daily_prices`. What an intraday quote
is for is noticing a watched stock's move past a threshold and telling the notify queue.
notify deduplicates per stock, threshold and day; a Redis marker set after a successful
send also keeps this job from re-sending on every run of the day.

A backfill (`{"job": "quotes", "start": …, "end": …}`) pulls KIS daily charts of the
watched stocks into `daily_prices`, one stock per transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import httpx

from shared.config import Settings, get_settings
from shared.db.session import session_scope
from shared.ingestion.market import IncompleteBackfillError, log_rejected
from shared.ingestion.options import CrawlOptions
from shared.jobs.service import JobCounts
from shared.market_calendar import KST, is_market_open
from shared.notifications.messages import AlertMessage
from shared.queues import send_json_messages
from shared.sources.http import UpstreamError
from shared.sources.kis import KisAuthError, KisClient, KisNoDataError, Quote
from shared.stocks import service as stock_service
from shared.stores.redis import KEY_PREFIX, get_redis

log = logging.getLogger(__name__)

ALERT_MARKER_SECONDS = 2 * 24 * 3600


@dataclass(frozen=True, slots=True)
class WatchedStock:
    code: str
    name: str


def _watched() -> list[WatchedStock]:
    with session_scope() as db_session:
        return [WatchedStock(s.code, s.name) for s in stock_service.list_watched(db_session=db_session)]


def crossed_thresholds(change_rate: float, thresholds: tuple[float, ...]) -> list[float]:
    """Thresholds (percent, positive) the move has reached, in either direction."""
    return [threshold for threshold in thresholds if abs(change_rate) >= threshold]


def _marker_key(code: str, threshold: float, day: date) -> str:
    return f"{KEY_PREFIX}quotes:alerted:{code}:{threshold:g}:{day.isoformat()}"


def ingest_quotes(
    *,
    counts: JobCounts,
    options: CrawlOptions,
    day: date,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    settings = settings or get_settings()
    now = (now or datetime.now(KST)).astimezone(KST)
    if now.date() != day or not is_market_open(now):
        counts["skipped_market_closed"] += 1
        log.info("market is not open; no intraday quotes", extra={"now": now.isoformat(), "day": day.isoformat()})
        return {"market_open": False}
    watched = _watched()
    if not watched:
        return {"market_open": True, "watched": 0}
    client = KisClient(settings=settings, refresh_margin_seconds=options.kis_token_refresh_margin_seconds)
    alerts: list[tuple[AlertMessage, str]] = []
    try:
        for stock in watched:
            quote = _quote(client, stock, counts)
            if quote is None:
                continue
            counts["fetched"] += 1
            alerts.extend(_new_alerts(stock, quote, day=day, thresholds=options.quote_alert_thresholds))
    finally:
        client.close()
    sent = _send_alerts(alerts, settings=settings, counts=counts)
    return {"market_open": True, "watched": len(watched), "alerts": sent}


def _quote(client: KisClient, stock: WatchedStock, counts: JobCounts) -> Quote | None:
    try:
        return client.current_price(stock.code)
    except KisAuthError:
        raise  # configuration: every other stock would fail the same way
    except KisNoDataError:
        counts["no_data"] += 1
    except (UpstreamError, httpx.TransportError, ValueError) as exc:
        counts["failed"] += 1
        log.warning("kis quote failed; next stock", extra={"stock": stock.code, "error": str(exc)})
    return None


def _new_alerts(
    stock: WatchedStock, quote: Quote, *, day: date, thresholds: tuple[float, ...]
) -> list[tuple[AlertMessage, str]]:
    crossed = crossed_thresholds(quote.change_rate, thresholds)
    if not crossed:
        return []
    client = get_redis()
    fresh = [threshold for threshold in crossed if not client.exists(_marker_key(stock.code, threshold, day))]
    return [
        (
            AlertMessage(
                stock_code=stock.code,
                stock_name=stock.name,
                price=quote.price,
                change_rate=quote.change_rate,
                threshold=threshold,
                day=day,
            ),
            _marker_key(stock.code, threshold, day),
        )
        for threshold in fresh
    ]


def _send_alerts(alerts: list[tuple[AlertMessage, str]], *, settings: Settings, counts: JobCounts) -> int:
    if not alerts:
        return 0
    if not settings.notify_queue_url:
        counts["alerts_unsent"] += len(alerts)
        log.warning("NOTIFY_QUEUE_URL is not set; alerts not sent", extra={"alerts": len(alerts)})
        return 0
    send_json_messages(settings.notify_queue_url, [alert.model_dump(mode="json") for alert, _ in alerts])
    client = get_redis()
    for _, marker in alerts:
        client.set(marker, "1", ex=ALERT_MARKER_SECONDS)
    counts["alerts_sent"] += len(alerts)
    return len(alerts)


def backfill_daily_charts(
    *, counts: JobCounts, options: CrawlOptions, start: date, end: date, settings: Settings | None = None
) -> dict[str, Any]:
    """KIS daily bars of every watched stock for `start`..`end`, one transaction per stock."""
    settings = settings or get_settings()
    watched = _watched()
    client = KisClient(settings=settings, refresh_margin_seconds=options.kis_token_refresh_margin_seconds)
    failed: list[str] = []
    try:
        for stock in watched:
            try:
                batch = client.daily_chart(stock.code, start=start, end=end)
            except KisAuthError:
                raise
            except (UpstreamError, httpx.TransportError) as exc:
                counts["failed_stocks"] += 1
                failed.append(stock.code)
                log.warning("kis chart failed; next stock", extra={"stock": stock.code, "error": str(exc)})
                continue
            counts["fetched"] += len(batch.records) + len(batch.rejected)
            counts["failed"] += len(batch.rejected)
            log_rejected(batch.rejected, what=f"kis chart {stock.code}")
            with session_scope() as db_session:
                result = stock_service.upsert_daily_prices(db_session=db_session, records=batch.records)
            counts["inserted"] += result.inserted
            counts["updated"] += result.updated
            counts["unchanged"] += result.unchanged
    finally:
        client.close()
    if failed:
        raise IncompleteBackfillError(f"KIS charts of {len(failed)} stock(s) could not be fetched: {', '.join(failed)}")
    return {"watched": len(watched)}
