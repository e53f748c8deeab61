"""Crawl benchmark: ingestion cost against a plain bulk insert of the same rows, and embedding throughput.

    .venv/bin/python benchmarks/crawl_bench.py [--news 10000] [--stocks 100] [--days 250]

1. A full-market day (sandbox universe "full", ≈2,700 stocks) through the prices job: KRX
   login, fetch, parse, upsert. Compared with a plain bulk insert of the same rows into an
   empty table (SQLAlchemy executemany, and COPY as the floor). Target: job ≤ 1.5× the insert.
2. A 250-trading-day backfill of 100 stocks through the quotes backfill (KIS daily charts,
   100 rows a page), against a plain bulk insert of the same bars.
3. 10,000 pending news items through the embed job (local hash embedder, Milvus Lite):
   items per second and the share of the time spent in Milvus.

Needs the local Postgres and Redis (as the tests do); it creates and drops its own database
and uses its own Redis DB number, so it never touches the tests' or the demo's data.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis as redis_lib
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

KST = ZoneInfo("Asia/Seoul")
ADMIN_URL = os.environ.get("BENCH_DATABASE_ADMIN_URL", "postgresql+pg8000://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
RUN_ID = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
PRICE_COLUMNS = ("code", "date", "open", "high", "low", "close", "volume", "value", "change", "change_rate",
                 "market_cap")  # fmt: skip


@contextmanager
def leased_redis_db() -> Iterator[str]:
    """A Redis DB number nobody else holds (the same lease keys the test harness uses)."""
    admin = redis_lib.Redis.from_url(f"{REDIS_BASE}/0")
    for number in range(15, 0, -1):
        key = f"stockinsight:test-db-lease:{number}"
        if admin.set(key, RUN_ID, nx=True, ex=3600):
            try:
                redis_lib.Redis.from_url(f"{REDIS_BASE}/{number}").flushdb()
                yield f"{REDIS_BASE}/{number}"
            finally:
                redis_lib.Redis.from_url(f"{REDIS_BASE}/{number}").flushdb()
                admin.delete(key)
            return
    raise RuntimeError("no free Redis DB number (1..15 all leased)")


@contextmanager
def scratch_database() -> Iterator[str]:
    name = f"si_bench_{RUN_ID}"
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url
    finally:
        from shared.db.session import reset_engine

        reset_engine()
        with admin.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def plain_bulk_insert(rows: list[dict[str, Any]]) -> tuple[float, float]:
    """(SQLAlchemy executemany INSERT seconds, COPY seconds) into an emptied daily_prices table."""
    from shared.db.session import get_engine
    from shared.stocks.models import DailyPrice

    engine = get_engine()

    def truncate() -> None:
        with engine.begin() as connection:
            connection.execute(text("TRUNCATE daily_prices"))

    truncate()
    with engine.begin() as connection:
        started = time.perf_counter()
        connection.execute(DailyPrice.__table__.insert(), rows)
        insert_seconds = time.perf_counter() - started
    truncate()
    buffer = io.StringIO()
    for row in rows:
        buffer.write(",".join("" if row[c] is None else str(row[c]) for c in PRICE_COLUMNS) + "\n")
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        started = time.perf_counter()
        buffer.seek(0)
        cursor.execute(f"COPY daily_prices ({', '.join(PRICE_COLUMNS)}) FROM STDIN WITH (FORMAT csv)", stream=buffer)
        raw.commit()
        copy_seconds = time.perf_counter() - started
    finally:
        raw.close()
    return insert_seconds, copy_seconds


def stored_rows(where: str = "") -> list[dict[str, Any]]:
    from shared.db.session import get_engine

    with get_engine().connect() as connection:
        result = connection.execute(text(f"SELECT {', '.join(PRICE_COLUMNS)} FROM daily_prices {where}"))
        return [dict(row._mapping) for row in result]


def bench_full_day(sandbox: Any) -> None:
    from shared.ingestion import jobs
    from shared.sources.krx import KrxDataClient
    from shared.stocks.models import Market

    day = date(2024, 1, 5)
    sandbox.set_clock(datetime(2024, 1, 8, 9, 0, tzinfo=KST))
    # The sandbox builds a market day lazily on first request: warm it so its cost is not ours.
    client = KrxDataClient(markets=(Market.KOSPI, Market.KOSDAQ))
    client.login()
    client.daily_prices(day)
    fetch_seconds, batch = timed(lambda: client.daily_prices(day))
    client.close()
    # A warm container (imports, compiled statements) as on every invocation after a Lambda's first.
    cold_seconds, _ = timed(lambda: jobs.run_prices(day=date(2024, 1, 4)))
    first_seconds, first = timed(lambda: jobs.run_prices(day=day))
    assert first.counts["inserted"] == len(batch.records), first.counts
    rerun_seconds, rerun = timed(lambda: jobs.run_prices(day=day))
    rows = stored_rows(f"WHERE date = '{day.isoformat()}'")
    insert_seconds, copy_seconds = plain_bulk_insert(rows)
    print(f"\n[1] full-market day {day}: {len(rows):,} bars")
    print(f"    fetch + parse alone (sandbox HTTP, {len(batch.records):,} rows): {fetch_seconds:.3f}s")
    print(f"    prices job, cold container (first run of the process, day before): {cold_seconds:.3f}s")
    print(f"    prices job, warm container, new day (login + fetch + parse + upsert): {first_seconds:.3f}s")
    print(f"    prices job, re-run (all unchanged):                     {rerun_seconds:.3f}s  counts={rerun.counts}")
    print(f"    plain bulk INSERT (executemany): {insert_seconds:.3f}s   COPY: {copy_seconds:.3f}s")
    print(f"    ratio job/INSERT = {first_seconds / insert_seconds:.2f}x  (target <= 1.5x);"
          f" job/COPY = {first_seconds / copy_seconds:.2f}x")  # fmt: skip


def bench_backfill(sandbox: Any, *, stock_count: int, trading_day_count: int) -> None:
    from sqlalchemy import select, update

    from shared.db.session import session_scope
    from shared.ingestion import jobs
    from shared.market_calendar import previous_trading_day
    from shared.stocks.models import Stock

    end = date(2024, 2, 13)
    start = end
    for _ in range(trading_day_count - 1):
        start = previous_trading_day(start)
    with session_scope() as db_session:
        active = list(db_session.scalars(select(Stock.code).where(Stock.active.is_(True)).order_by(Stock.code)))
        codes = active[:: max(1, len(active) // stock_count)][:stock_count]
        db_session.execute(update(Stock).values(watched=False))
        db_session.execute(update(Stock).where(Stock.code.in_(codes)).values(watched=True))
    with session_scope() as db_session:
        db_session.execute(text("TRUNCATE daily_prices"))
    sandbox.set_clock(datetime(2024, 2, 14, 9, 0, tzinfo=KST))
    seconds, result = timed(lambda: jobs.run_quotes(start=start, end=end))
    rows = stored_rows()
    insert_seconds, copy_seconds = plain_bulk_insert(rows)
    print(f"\n[2] backfill {start}..{end} ({trading_day_count} trading days) of {len(codes)} stocks via KIS charts:")
    print(f"    {len(rows):,} bars, counts={result.counts}")
    print(f"    quotes backfill job: {seconds:.3f}s  ({len(rows) / seconds:,.0f} bars/s)")
    print(f"    plain bulk INSERT (executemany): {insert_seconds:.3f}s   COPY: {copy_seconds:.3f}s")
    print(f"    ratio job/INSERT = {seconds / insert_seconds:.2f}x;  job/COPY = {seconds / copy_seconds:.2f}x")


def bench_embeddings(*, news_count: int) -> None:
    from shared.db.session import session_scope
    from shared.ingestion import jobs
    from shared.news import service as news_service
    from shared.sources.records import NewsRecord

    base = datetime(2024, 1, 5, 9, 0, tzinfo=KST)
    records = [
        NewsRecord(
            url=f"https://bench.example/news/{i}",
            title=f"삼성전자 {i}번째 기사: 반도체 업황 개선 기대감에 외국인 순매수",
            summary=f"{i}일 증시에서 삼성전자와 SK하이닉스가 나란히 올랐다. 메모리 가격 반등이 이어지고 있다.",
            source="bench.example",
            published_at=base + timedelta(seconds=i),
        )
        for i in range(news_count)
    ]
    with session_scope() as db_session:
        stored = news_service.upsert_news(db_session=db_session, records=records)
        news_service.link_stocks(db_session=db_session, links=[(i, "005930") for i in stored.ids_by_url.values()])
    seconds, result = timed(lambda: jobs.run_embed(day=date(2024, 1, 5)))
    details = result.details
    milvus, embed = float(details["milvus_seconds"]), float(details["embed_seconds"])
    print(f"\n[3] embed {result.counts.get('embedded', 0):,} news ({details['embedder']}, dim {details['dimension']}):")
    print(f"    {seconds:.3f}s total = {result.counts.get('embedded', 0) / seconds:,.0f} items/s")
    rest = seconds - embed - milvus
    print(f"    embedder {embed:.3f}s ({embed / seconds:.0%}), Milvus {milvus:.3f}s ({milvus / seconds:.0%}),"
          f" Postgres outbox + job bookkeeping {rest:.3f}s ({rest / seconds:.0%})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--news", type=int, default=10_000)
    parser.add_argument("--stocks", type=int, default=100)
    parser.add_argument("--days", type=int, default=250)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="si_crawl_bench_"))
    with scratch_database() as database_url, leased_redis_db() as redis_url:
        from sandbox.server import SandboxServer

        print("starting the sandbox (universe 'full') ...", flush=True)
        with SandboxServer(universe="full", kis_rate_per_second=10_000) as sandbox:
            environment = {k: v for k, v in sandbox.env().items() if not k.startswith(("OPENAI", "TELEGRAM"))}
            os.environ.update(
                {
                    **environment,
                    "ENVIRONMENT": "test",
                    "DATABASE_URL": database_url,
                    "REDIS_URL": redis_url,
                    "MILVUS_URI": str(workdir / "milvus.db"),
                    "OPENAI_API_KEY": "",
                    "KRX_SOURCE": "data",
                    "KIS_REQUESTS_PER_SECOND": "1000",
                    "POWERTOOLS_TRACE_DISABLED": "true",
                    "POWERTOOLS_METRICS_NAMESPACE": "StockInsight",
                    "POWERTOOLS_LOG_LEVEL": "WARNING",
                    "LOG_LEVEL": "WARNING",
                }
            )
            import logging

            logging.basicConfig(level=logging.WARNING)
            from shared.db.migrate import upgrade_to_head

            upgrade_to_head(database_url)
            bench_full_day(sandbox)
            bench_backfill(sandbox, stock_count=args.stocks, trading_day_count=args.days)
            bench_embeddings(news_count=args.news)
        from shared.stores.milvus import reset_milvus

        reset_milvus()


if __name__ == "__main__":
    main()
