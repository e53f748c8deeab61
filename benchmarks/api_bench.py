"""API read latency at scale: 2,500 stocks and 1,000,000 predictions (with evaluations).

Builds a database of its own (Alembic head, then COPY), points the api function at it,
and times requests through the real Lambda handler (API Gateway v2 events, Mangum,
FastAPI, validation, serialization, auth) against the very SQL those requests ran,
replayed directly with pg8000. Each list/detail sample first runs its request twice untimed
(bringing the pages its statements read into Postgres's buffers and filling the caches a
request fills, e.g. a large list total; the second call's statements are the ones replayed), then
times the API call and the raw replay in alternating order, so both see the same cache
state and machine load (timing the API's first call against a replay right after it would
charge the API for the buffer misses).

    python benchmarks/api_bench.py [--admin-url postgresql+pg8000://postgres@127.0.0.1:5432/postgres]

Targets: list and detail ≤ 2× raw SQL; cached dashboard ≤ 0.2× the uncached one.
The database is dropped at the end (also on failure); a Redis DB is leased as the tests do.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STOCKS = 2_500
MODELS = 4
TARGET_DAYS = 100  # 2,500 stocks × 4 models × 100 days = 1,000,000 predictions
NEWS = 20_000
SEED = 7


@dataclass
class Timing:
    name: str
    api: list[float]
    raw: list[float]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


# --- the data set ---------------------------------------------------------------


def trading_days(count: int, end: date) -> list[date]:
    days: list[date] = []
    day = end
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= timedelta(days=1)
    return sorted(days)


def copy_rows(cursor: Any, table: str, columns: tuple[str, ...], rows: Iterator[tuple[Any, ...]]) -> int:
    """COPY in chunks of 100k rows (tab-separated text, \\N for NULL)."""
    total = 0
    while True:
        buffer = io.StringIO()
        written = 0
        for row in rows:
            buffer.write("\t".join("\\N" if value is None else str(value) for value in row) + "\n")
            written += 1
            if written == 100_000:
                break
        if written == 0:
            return total
        buffer.seek(0)
        cursor.execute(f"COPY {table} ({', '.join(columns)}) FROM STDIN", stream=buffer)
        total += written


def load(url: str) -> dict[str, Any]:
    import pg8000.dbapi
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    connection = pg8000.dbapi.connect(
        user=parsed.username or "postgres",
        password=parsed.password,
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        database=parsed.database,
    )
    cursor = connection.cursor()
    rng = random.Random(SEED)
    days = trading_days(TARGET_DAYS + 1, date(2024, 6, 28))
    codes = [f"{index:06d}" for index in range(1, STOCKS + 1)]
    sectors = ["전기전자", "화학", "서비스업", "금융업", "의약품", "운수장비", "유통업", "철강금속"]

    started = time.perf_counter()
    copy_rows(
        cursor,
        "stocks",
        ("code", "name", "market", "sector", "active", "watched"),
        (
            (
                code,
                f"종목{code}",
                "KOSPI" if index % 3 else "KOSDAQ",
                sectors[index % len(sectors)],
                "t",
                "t" if index % 50 == 0 else "f",
            )
            for index, code in enumerate(codes)
        ),
    )
    cursor.execute(
        "INSERT INTO model_configs (name, kind, provider, model_id, is_champion) VALUES "
        + ", ".join(
            f"('model-{index}', 'baseline', 'momentum', 'momentum', {'true' if index == 0 else 'false'})"
            for index in range(MODELS)
        )
        + " RETURNING id"
    )
    model_ids = [row[0] for row in cursor.fetchall()]

    closes = {code: rng.randint(1_000, 500_000) for code in codes}

    def price_rows() -> Iterator[tuple[Any, ...]]:
        for day in days:
            for code in codes:
                previous = closes[code]
                change_rate = rng.gauss(0, 0.02)
                close = max(1, round(previous * (1 + change_rate)))
                closes[code] = close
                change = close - previous
                yield (
                    code,
                    day,
                    previous,
                    max(previous, close),
                    min(previous, close),
                    close,
                    rng.randint(1_000, 10_000_000),
                    close * rng.randint(1_000, 100_000),
                    change,
                    change / previous,
                    None,
                )

    copy_rows(
        cursor,
        "daily_prices",
        ("code", "date", "open", "high", "low", "close", "volume", "value", "change", "change_rate", "market_cap"),
        price_rows(),
    )

    published = datetime(2024, 6, 28, 9, tzinfo=UTC)
    copy_rows(
        cursor,
        "news",
        ("url", "title", "summary", "source", "published_at", "embedding_status"),
        (
            (
                f"https://news.example.com/{index}",
                f"종목{codes[index % STOCKS]} 관련 뉴스 {index}",
                "요약",
                "연합뉴스",
                published - timedelta(minutes=index),
                "done",
            )
            for index in range(NEWS)
        ),
    )
    copy_rows(
        cursor, "news_stocks", ("news_id", "stock_code"), ((index + 1, codes[index % STOCKS]) for index in range(NEWS))
    )

    target_days = days[1:]
    directions = ("up", "down", "flat")

    def prediction_rows() -> Iterator[tuple[Any, ...]]:
        prediction_id = 0
        for day_index, target in enumerate(target_days):
            as_of = days[day_index]
            for model_id in model_ids:
                for code in codes:
                    prediction_id += 1
                    evidence = "{" + ",".join(str(rng.randint(1, NEWS)) for _ in range(3)) + "}"
                    yield (
                        prediction_id,
                        code,
                        model_id,
                        as_of,
                        target,
                        "ok",
                        rng.choice(directions),
                        round(rng.uniform(0.34, 0.95), 4),
                        round(rng.gauss(0, 0.01), 5),
                        "근거 요약",
                        evidence,
                    )

    count = copy_rows(
        cursor,
        "predictions",
        (
            "id",
            "stock_code",
            "model_config_id",
            "as_of_date",
            "target_date",
            "status",
            "direction",
            "probability",
            "expected_return",
            "rationale",
            "evidence_news_ids",
        ),
        prediction_rows(),
    )
    cursor.execute("SELECT setval(pg_get_serial_sequence('predictions', 'id'), %s)", (count,))
    # Every prediction but the latest day's is evaluated.
    cursor.execute(
        """
        INSERT INTO evaluations (prediction_id, previous_close, actual_close, actual_return, realized_direction,
                                 correct, brier, log_loss, strategy_return)
        SELECT p.id, 10000, 10100, 0.01, d.realized, d.realized = p.direction,
               power(p.probability - (d.realized = p.direction)::int, 2), 0.6, 0.0
        FROM predictions p
        CROSS JOIN LATERAL (SELECT (ARRAY['up','down','flat'])[1 + (p.id * 7919) %% 3] AS realized) d
        WHERE p.target_date < %s
        """,
        (target_days[-1],),
    )
    # What evaluate's roll-up leaves behind: per model and day, the totals (variant NULL).
    cursor.execute(
        """
        INSERT INTO daily_performance (date, model_config_id, ab_variant_id, n, hits, hit_rate, hit_rate_low,
            hit_rate_high, brier, log_loss, mean_strategy_return, cumulative_strategy_return)
        SELECT p.target_date, p.model_config_id, NULL, count(*), count(*) FILTER (WHERE e.correct),
               avg(e.correct::int), 0, 1, avg(e.brier), avg(e.log_loss), avg(e.strategy_return), 0
        FROM evaluations e JOIN predictions p ON p.id = e.prediction_id
        GROUP BY p.target_date, p.model_config_id
        """
    )
    connection.commit()
    connection.autocommit = True
    cursor.execute("VACUUM ANALYZE")
    connection.close()
    print(
        f"loaded {STOCKS:,} stocks, {count:,} predictions (+ evaluations), {len(days) * STOCKS:,} bars, "
        f"{NEWS:,} news in {time.perf_counter() - started:.0f}s"
    )
    return {"codes": codes, "model_ids": model_ids, "target_days": target_days, "predictions": count}


# --- measuring --------------------------------------------------------------------


def lease_redis_db(base: str) -> tuple[int, str]:
    import redis

    client = redis.Redis.from_url(f"{base}/0")
    token = f"bench-{os.getpid()}"
    for number in range(15, 0, -1):
        if client.set(f"stockinsight:test-db-lease:{number}", token, nx=True, ex=3600):
            return number, token
    raise RuntimeError("no free Redis DB number")


class StatementRecorder:
    """The SQL (and parameters) the app sends, so pg8000 can replay exactly that."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        self.statements.append((statement, parameters))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default="postgresql+pg8000://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"si_bench_{uuid.uuid4().hex[:8]}"
    url = make_url(args.admin_url).set(database=name).render_as_string(hide_password=False)
    admin = create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    redis_db, lease = lease_redis_db(args.redis)
    try:
        os.environ.update(
            {
                "DATABASE_URL": url,
                "REDIS_URL": f"{args.redis}/{redis_db}",
                "JWT_SECRET": uuid.uuid4().hex * 2,
                "BCRYPT_ROUNDS": "4",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "PAGE_LIMIT_MAX": "200",
                "OPENAI_API_KEY": "",
            }
        )
        from shared.db.migrate import upgrade_to_head

        upgrade_to_head(url)
        world = load(url)
        run(world, url, args.samples)
    finally:
        from shared.db.session import reset_engine

        reset_engine()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        import redis

        redis.Redis.from_url(f"{args.redis}/{redis_db}").flushdb()
        lease_client = redis.Redis.from_url(f"{args.redis}/0")
        if lease_client.get(f"stockinsight:test-db-lease:{redis_db}") == lease.encode():
            lease_client.delete(f"stockinsight:test-db-lease:{redis_db}")


def run(world: dict[str, Any], url: str, samples: int) -> None:
    import contextlib

    import pg8000.dbapi
    from sqlalchemy import event
    from sqlalchemy.engine import make_url

    warnings.simplefilter("ignore")
    from functions.api.handler import lambda_handler
    from shared.db.session import get_engine, session_scope
    from shared.stores.redis import invalidate_namespace
    from shared.users import service as user_service
    from shared.users import tokens
    from shared.users.schemas import UserCreate

    with session_scope() as db_session:
        user = user_service.create(
            db_session=db_session,
            user_in=UserCreate(email="bench@example.com", password=f"Bench-{uuid.uuid4().hex[:12]}"),
        )
        access = tokens.issue_token_pair(db_session=db_session, user=user).access_token

    template = json.loads((ROOT / "tests" / "events" / "api_get_health.json").read_text())

    @dataclass
    class Context:
        function_name: str = "bench"
        memory_limit_in_mb: int = 1024
        invoked_function_arn: str = "arn:aws:lambda:ap-northeast-2:123456789012:function:bench"
        aws_request_id: str = "bench"

        def get_remaining_time_in_millis(self) -> int:
            return 30_000

    def event_for(path: str, query: dict[str, Any] | None = None) -> dict[str, Any]:
        event = json.loads(json.dumps(template))
        event["rawPath"] = path
        event["rawQueryString"] = urlencode(query or {})
        event["requestContext"]["http"]["path"] = path
        event["requestContext"]["requestId"] = uuid.uuid4().hex
        event["headers"]["authorization"] = f"Bearer {access}"
        return event

    parsed = make_url(url)
    raw = pg8000.dbapi.connect(
        user=parsed.username or "postgres",
        password=parsed.password,
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        database=parsed.database,
    )
    raw.autocommit = True
    raw_cursor = raw.cursor()
    recorder = StatementRecorder()
    event.listen(get_engine(), "before_cursor_execute", recorder)

    def call_api(path: str, query: dict[str, Any] | None = None) -> tuple[float, list[tuple[str, Any]]]:
        request = event_for(path, query)
        recorder.statements.clear()
        with contextlib.redirect_stdout(io.StringIO()):
            started = time.perf_counter()
            response = lambda_handler(request, Context())
            elapsed = time.perf_counter() - started
        if response["statusCode"] != 200:
            raise RuntimeError(f"{path} {query}: {response['statusCode']} {response['body'][:300]}")
        # Data statements only: the user lookup behind auth is part of what the API costs.
        data = [(sql, params) for sql, params in recorder.statements if "FROM users" not in sql]
        return elapsed, data

    def replay(statements: list[tuple[str, Any]]) -> float:
        started = time.perf_counter()
        for sql, params in statements:
            raw_cursor.execute(sql, tuple(params) if params else ())
            raw_cursor.fetchall()
        return time.perf_counter() - started

    def paired(path: str, query: dict[str, Any] | None, index: int) -> tuple[float, float]:
        # Untimed, twice: warms the pages and the caches (a large list total is cached after
        # the first call), then records the statements a request runs in that steady state.
        call_api(path, query)
        _, statements = call_api(path, query)
        if index % 2:
            raw_elapsed = replay(statements)
            api_elapsed, _ = call_api(path, query)
        else:
            api_elapsed, _ = call_api(path, query)
            raw_elapsed = replay(statements)
        return api_elapsed, raw_elapsed

    rng = random.Random(SEED)
    codes, model_ids, days = world["codes"], world["model_ids"], world["target_days"]
    list_variants: dict[str, Callable[[], dict[str, Any]]] = {
        "list: default (newest first)": lambda: {},
        "list: one stock": lambda: {"stock": rng.choice(codes)},
        "list: model + 5-day range": lambda: {
            "model_id": rng.choice(model_ids),
            "target_from": (day := rng.choice(days[:-5])).isoformat(),
            "target_to": (day + timedelta(days=7)).isoformat(),
        },
        "list: up, p≥0.8, by probability": lambda: {
            "direction": "up",
            "min_probability": 0.8,
            "sort": "-probability",
            "target_from": rng.choice(days).isoformat(),
        },
        "list: page 100 (offset 5000)": lambda: {"offset": 5000, "limit": 50, "stock": rng.choice(codes)},
    }

    timings: list[Timing] = []
    # The fixed cost of any authenticated request: token check, user lookup, transaction end.
    overhead = Timing("auth only (/api/auth/me)", [], [])
    for _ in range(samples):
        elapsed, statements = call_api("/api/auth/me")
        overhead.api.append(elapsed)
        overhead.raw.append(replay(statements) if statements else 0.0)
    timings.append(overhead)
    for _ in range(5):  # warm the pool, the caches and Python's code paths
        call_api("/api/predictions")
        call_api("/api/predictions/1")
    for label, make_query in list_variants.items():
        timing = Timing(label, [], [])
        for index in range(samples):
            api_elapsed, raw_elapsed = paired("/api/predictions", make_query(), index)
            timing.api.append(api_elapsed)
            timing.raw.append(raw_elapsed)
        timings.append(timing)

    detail = Timing("detail (with evidence news)", [], [])
    for index in range(samples):
        api_elapsed, raw_elapsed = paired(f"/api/predictions/{rng.randint(1, world['predictions'])}", None, index)
        detail.api.append(api_elapsed)
        detail.raw.append(raw_elapsed)
    timings.append(detail)

    cold = Timing("dashboard: cold (computed)", [], [])
    for _ in range(max(10, samples // 10)):
        invalidate_namespace("dashboard")
        elapsed, statements = call_api("/api/dashboard")
        cold.api.append(elapsed)
        cold.raw.append(replay(statements))
    timings.append(cold)
    cached = Timing("dashboard: cached", [], [])
    call_api("/api/dashboard")
    for _ in range(samples):
        elapsed, statements = call_api("/api/dashboard")
        cached.api.append(elapsed)
        cached.raw.append(replay(statements) if statements else 0.0)
    timings.append(cached)
    event.remove(get_engine(), "before_cursor_execute", recorder)
    raw.close()

    print()
    print(f"{'request':<36}{'api p50':>9}{'api p99':>9}{'raw p50':>9}{'raw p99':>9}{'p50 ×raw':>10}{'p99 ×raw':>10}")
    for timing in timings:
        api50, api99 = percentile(timing.api, 0.5) * 1000, percentile(timing.api, 0.99) * 1000
        raw50, raw99 = percentile(timing.raw, 0.5) * 1000, percentile(timing.raw, 0.99) * 1000
        ratio50 = f"{api50 / raw50:.2f}" if raw50 else "-"
        ratio99 = f"{api99 / raw99:.2f}" if raw99 else "-"
        print(f"{timing.name:<36}{api50:>8.1f}m{api99:>8.1f}m{raw50:>8.1f}m{raw99:>8.1f}m{ratio50:>10}{ratio99:>10}")
    cold50, cached50 = percentile(cold.api, 0.5), percentile(cached.api, 0.5)
    cold99, cached99 = percentile(cold.api, 0.99), percentile(cached.api, 0.99)
    print()
    print(f"cached / cold dashboard: p50 {cached50 / cold50:.3f}×, p99 {cached99 / cold99:.3f}×  (target ≤ 0.2×)")
    worst = max(
        percentile(t.api, 0.5) / percentile(t.raw, 0.5) for t in timings if t.name.startswith(("list", "detail"))
    )
    print(f"worst list/detail p50 ratio to raw SQL: {worst:.2f}×  (target ≤ 2×)")
    print(
        "(list totals of 10,000+ rows come from the Redis cache after a filter's first request, as in"
        " production: neither side counts them then)"
    )
    print(
        f"(raw = the same statements replayed with pg8000; api = the Lambda handler end to end; "
        f"median of {samples} samples, {statistics.mean(len(t.api) for t in timings):.0f} per row on average)"
    )


if __name__ == "__main__":
    main()
