"""Crawl's jobs as `run_job` units (lock + job_runs row + metrics), and the event dispatcher.

Each job module is imported when its job runs: the embed job pulls in pymilvus (and
openai with a key), which the other jobs' cold start must not pay for.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from shared.events import ScheduledJob
from shared.ingestion.options import CrawlOptions
from shared.jobs.service import JobCounts, JobResult, run_job
from shared.sources.krx import open_krx_source

FUNCTION = "crawl"
CRAWL_JOBS = frozenset({"listing", "prices", "quotes", "news", "embed"})
DEFAULT_JOB = "prices"
# A range longer than this is refused: it would outlive the Lambda timeout; split it.
MAX_BACKFILL_DAYS = 800


def run_listing(*, day: date, request_id: str | None = None, options: CrawlOptions | None = None) -> JobResult:
    from shared.ingestion.market import ingest_listing

    opts = options or CrawlOptions.from_settings()

    def work(counts: JobCounts) -> dict[str, Any]:
        source = open_krx_source(markets=opts.markets)
        try:
            return {"source": source.name, **ingest_listing(source=source, day=day, counts=counts, options=opts)}
        finally:
            source.close()

    return run_job(function=FUNCTION, job="listing", run_date=day.isoformat(), work=work, request_id=request_id)


def run_prices(
    *,
    day: date | None = None,
    start: date | None = None,
    end: date | None = None,
    request_id: str | None = None,
    options: CrawlOptions | None = None,
) -> JobResult:
    """One day's prices, or a backfill of `start`..`end` (both included), one transaction per day."""
    from shared.ingestion.market import ingest_prices

    opts = options or CrawlOptions.from_settings()
    if start is not None and end is not None:
        if (end - start).days + 1 > MAX_BACKFILL_DAYS:
            raise ValueError(f"backfill of {(end - start).days + 1} days is longer than {MAX_BACKFILL_DAYS}; split it")
        days = [start + timedelta(days=offset) for offset in range((end - start).days + 1)]
        run_date = f"{start.isoformat()}..{end.isoformat()}"
    elif day is not None:
        days, run_date = [day], day.isoformat()
    else:
        raise ValueError("run_prices needs a day or a start/end range")

    def work(counts: JobCounts) -> dict[str, Any]:
        source = open_krx_source(markets=opts.markets)
        try:
            details = ingest_prices(source=source, days=days, counts=counts, stop_on_error=len(days) == 1)
            return {"source": source.name, **details}
        finally:
            source.close()

    return run_job(function=FUNCTION, job="prices", run_date=run_date, work=work, request_id=request_id)


def run_news(*, day: date, request_id: str | None = None, options: CrawlOptions | None = None) -> JobResult:
    from shared.ingestion.news import ingest_news

    opts = options or CrawlOptions.from_settings()
    return run_job(
        function=FUNCTION,
        job="news",
        run_date=day.isoformat(),
        work=lambda counts: ingest_news(counts=counts, options=opts),
        request_id=request_id,
    )


def run_embed(*, day: date, request_id: str | None = None, options: CrawlOptions | None = None) -> JobResult:
    from shared.ingestion.embed import ingest_embeddings

    opts = options or CrawlOptions.from_settings()
    # The outbox is global, not per day: one lock for every embed run, whatever its date.
    return run_job(
        function=FUNCTION,
        job="embed",
        run_date=None,
        work=lambda counts: ingest_embeddings(counts=counts, options=opts),
        request_id=request_id,
    )


def run_quotes(
    *,
    day: date | None = None,
    start: date | None = None,
    end: date | None = None,
    request_id: str | None = None,
    options: CrawlOptions | None = None,
    now: datetime | None = None,
) -> JobResult:
    """Intraday alerts for watched stocks on `day`, or a KIS daily-chart backfill of `start`..`end`."""
    from shared.ingestion.quotes import backfill_daily_charts, ingest_quotes

    opts = options or CrawlOptions.from_settings()
    if start is not None and end is not None:
        return run_job(
            function=FUNCTION,
            job="quotes",
            run_date=f"{start.isoformat()}..{end.isoformat()}",
            work=lambda counts: backfill_daily_charts(counts=counts, options=opts, start=start, end=end),
            request_id=request_id,
        )
    if day is None:
        raise ValueError("run_quotes needs a day or a start/end range")
    return run_job(
        function=FUNCTION,
        job="quotes",
        run_date=day.isoformat(),
        work=lambda counts: ingest_quotes(counts=counts, options=opts, day=day, now=now),
        request_id=request_id,
    )


def run_crawl_job(job: ScheduledJob, *, request_id: str | None = None) -> JobResult:
    """Run the job an event names (see `shared.events.parse_scheduled_job`)."""
    if job.job in ("prices", "quotes"):
        run = run_prices if job.job == "prices" else run_quotes
        if job.is_range:
            return run(start=job.start, end=job.end, request_id=request_id)
        return run(day=job.date, request_id=request_id)
    runners: dict[str, Callable[..., JobResult]] = {
        "listing": run_listing,
        "news": run_news,
        "embed": run_embed,
    }
    if job.job not in runners:
        raise ValueError(f"unknown crawl job {job.job!r}")
    return runners[job.job](day=job.date, request_id=request_id)
