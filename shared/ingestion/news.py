"""Naver news → Postgres: recent articles per stock, linked to every stock they name.

Per stock: newest first, page by page, until a page holds an article we already have (the
rest is older and stored), a short page, or `news_pages_per_stock`. The day's quota is a
Redis counter shared by every container, checked before each call, so the job stops
cleanly instead of being refused; a 010 answer anyway marks the day exhausted for all.
One stock's pages are one transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from shared.config import Settings, get_settings
from shared.db.session import session_scope
from shared.ingestion.market import log_rejected
from shared.ingestion.options import CrawlOptions
from shared.ingestion.stock_names import StockNameMatcher
from shared.jobs.service import JobCounts
from shared.market_calendar import KST
from shared.news import service as news_service
from shared.sources.http import UpstreamError
from shared.sources.naver import (
    MAX_DISPLAY,
    MAX_START,
    NaverConfigError,
    NaverNewsClient,
    NaverQuotaExceededError,
)
from shared.sources.records import NewsRecord
from shared.stocks import service as stock_service
from shared.stores.redis import DailyQuota, RateLimiter, get_json, set_json

log = logging.getLogger(__name__)

QUOTA_NAME = "naver_search"


@dataclass(frozen=True, slots=True)
class NewsTarget:
    code: str
    name: str


def _exhausted_key(now: datetime) -> str:
    return f"naver:quota_exhausted:{now.astimezone(KST).date().isoformat()}"


def _mark_quota_exhausted(now: datetime) -> None:
    midnight = datetime.combine(now.astimezone(KST).date() + timedelta(days=1), datetime.min.time(), tzinfo=KST)
    set_json(_exhausted_key(now), True, ttl_seconds=max(60, int((midnight - now).total_seconds()) + 60))


def news_targets(*, options: CrawlOptions) -> tuple[list[NewsTarget], dict[str, str]]:
    """(stocks to search, the whole active universe's names): watched stocks, else all active, capped."""
    with session_scope() as db_session:
        universe = stock_service.names_by_code(db_session=db_session)
        watched = stock_service.list_watched(db_session=db_session)
    if watched:
        targets = [NewsTarget(stock.code, stock.name) for stock in watched]
    else:
        targets = [NewsTarget(code, name) for code, name in sorted(universe.items())]
    return targets[: options.news_max_stocks], universe


def ingest_news(
    *, counts: JobCounts, options: CrawlOptions, settings: Settings | None = None, now: datetime | None = None
) -> dict[str, Any]:
    settings = settings or get_settings()
    now = now or datetime.now(KST)
    if get_json(_exhausted_key(now)):
        counts["quota_exhausted"] += 1
        log.warning("naver quota already exhausted today; not searching")
        return {"stopped": "quota_exhausted"}
    targets, universe = news_targets(options=options)
    if not targets:
        log.info("no active stocks; nothing to search")
        return {"stocks": 0}
    matcher = StockNameMatcher(universe)
    quota = DailyQuota(QUOTA_NAME, limit=settings.naver_daily_quota)
    limiter = RateLimiter(QUOTA_NAME, rate_per_second=options.news_requests_per_second)
    client = NaverNewsClient(settings)
    stopped: str | None = None
    searched = 0
    try:
        for target in targets:
            stopped = _ingest_stock(
                client=client, target=target, matcher=matcher, quota=quota, limiter=limiter,
                counts=counts, pages=settings.news_pages_per_stock, now=now,
            )  # fmt: skip
            searched += 1
            if stopped is not None:
                break
    finally:
        client.close()
    details: dict[str, Any] = {"stocks": searched, "of_stocks": len(targets)}
    if stopped is not None:
        details["stopped"] = stopped
    return details


def _ingest_stock(
    *,
    client: NaverNewsClient,
    target: NewsTarget,
    matcher: StockNameMatcher,
    quota: DailyQuota,
    limiter: RateLimiter,
    counts: JobCounts,
    pages: int,
    now: datetime,
) -> str | None:
    """Fetch and store one stock's news; returns why the whole job must stop, if it must."""
    collected: dict[str, NewsRecord] = {}
    stop_reason: str | None = None
    for page_number in range(max(1, pages)):
        start = 1 + page_number * MAX_DISPLAY
        if start > MAX_START:
            break
        if not quota.try_consume(now=now):
            counts["quota_exhausted"] += 1
            log.warning("naver daily quota reached; stopping before exceeding it", extra={"used": quota.used(now=now)})
            stop_reason = "quota_exhausted"
            break
        limiter.acquire()
        try:
            page = client.search(target.name, start=start, display=MAX_DISPLAY)
        except NaverQuotaExceededError:
            _mark_quota_exhausted(now)
            counts["quota_exhausted"] += 1
            log.warning("naver says the daily quota is exhausted; stopping for the day")
            stop_reason = "quota_exhausted"
            break
        except NaverConfigError:
            raise
        except (UpstreamError, httpx.TransportError) as exc:
            counts["failed_queries"] += 1
            log.warning(
                "naver search failed; moving to the next stock", extra={"stock": target.code, "error": str(exc)}
            )
            break
        counts["requests"] += 1
        counts["fetched"] += page.item_count
        counts["failed"] += len(page.batch.rejected)
        log_rejected(page.batch.rejected, what=f"naver news {target.code}")
        fresh = [record for record in page.batch.records if record.url not in collected]
        collected.update((record.url, record) for record in fresh)
        with session_scope() as db_session:
            known = news_service.existing_urls(db_session=db_session, urls=[record.url for record in fresh])
        if known or page.item_count < MAX_DISPLAY:
            break
    if collected:
        _store(target=target, records=list(collected.values()), matcher=matcher, counts=counts)
    return stop_reason


def _store(*, target: NewsTarget, records: list[NewsRecord], matcher: StockNameMatcher, counts: JobCounts) -> None:
    with session_scope() as db_session:
        result = news_service.upsert_news(db_session=db_session, records=records)
        links: set[tuple[int, str]] = set()
        for record in records:
            news_id = result.ids_by_url[record.url]
            links.add((news_id, target.code))
            links.update((news_id, code) for code in matcher.codes_in(record.title, record.summary))
        created_links = news_service.link_stocks(db_session=db_session, links=links)
    counts["inserted"] += result.inserted
    counts["unchanged"] += result.unchanged
    counts["links_created"] += created_links
