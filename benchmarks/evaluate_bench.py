"""Evaluate at scale: score 1,000,000 matured predictions and roll them up, against one raw SQL pass.

What is measured: the evaluate function's database work for a day on which every stored
prediction has matured — `evaluate_matured_predictions` (scoring, roll-up, running totals),
in one session as `shared.evaluation.workflow.run_evaluation` runs it (the Redis lock, the
job_runs row and the cache invalidation around it are left out) — with "day" = the last
target date, so the whole range is scored and every target date is rolled up.

The reference is the same work written by hand as one raw SQL statement: `INSERT INTO
evaluations (…) SELECT …` — predictions joined with their as-of and target closes,
computing the same expressions (return, realised direction, correct, Brier, log loss,
strategy return) — into the real, empty evaluations table (primary key, foreign key to
predictions, WAL-logged), committed, sent over pg8000 with no ORM, with the server's
default settings and whatever plan Postgres picks: what a DBA would write to evaluate
these rows. That is like for like: evaluating writes a million evaluations rows, and the
primary-key insert and the per-row foreign-key check are part of that work on both sides.
Its rows are checked against evaluate's (every column but evaluated_at). It runs before
and after the evaluate runs, the table is emptied (TRUNCATE) after each, and the
reference is the mean of the two. Every timed pass that writes starts right after a
CHECKPOINT, so none of them inherits another's dirty buffers or pays for a checkpoint
that the load or an earlier pass set off.

For context, and not the target: the same INSERT with evaluate's planner settings
(`shared.evaluation.service.PLANNER_SETTINGS`, SET LOCAL), which shows how much of the
difference is the plan Postgres picks; and three read-only passes, with their ratios:
the scoring SELECT materialised with CREATE TEMP TABLE AS (no WAL, no index, no key
check, and free to use parallel workers, which an INSERT … SELECT never does in
Postgres 15), the same with a serial plan, and an aggregate-only pass (SELECT count,
sum … over the same join).

    target: evaluate (score + roll-up, commit included) ≤ 1.5 × the raw INSERT pass

A second evaluate run is timed too: it must be idempotent (same evaluations, same roll-up)
and cheap, as only the day's own predictions are re-scored and rolled up (it still reads
the whole window once, to find predictions not scored yet and closes corrected since).

    python benchmarks/evaluate_bench.py [--predictions 1000000 --stocks 2500 --models 4]

The data set is generated inside Postgres (INSERT … SELECT over generate_series /
unnest) into a database of its own (stockinsight_bench_evaluate_<pid>), dropped at the end,
also on failure.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN_URL = "postgresql+pg8000://postgres@127.0.0.1:5432/postgres"
TARGET = 1.5
EPS = 1e-6  # the probability clip evaluate_matured_predictions uses

# The rows and expressions of shared.evaluation.service._EVALUATE_SQL's scoring, in one plain pass.
RAW_SELECT = """
    SELECT p.id AS prediction_id,
           prev.close AS previous_close,
           cur.close AS actual_close,
           a.actual_return,
           r.realized_direction,
           (p.direction = r.realized_direction) AS correct,
           power(p.probability - CASE WHEN p.direction = r.realized_direction THEN 1 ELSE 0 END, 2) AS brier,
           -ln(CASE WHEN p.direction = r.realized_direction THEN c.p_clipped ELSE 1 - c.p_clipped END) AS log_loss,
           CASE p.direction WHEN 'up' THEN a.actual_return - {cost}
                            WHEN 'down' THEN -a.actual_return - {cost}
                            ELSE 0 END AS strategy_return
    FROM predictions p
    JOIN daily_prices cur ON cur.code = p.stock_code AND cur.date = p.target_date
    JOIN daily_prices prev ON prev.code = p.stock_code AND prev.date = p.as_of_date
    CROSS JOIN LATERAL (SELECT cur.close::float8 / prev.close - 1 AS actual_return) a
    CROSS JOIN LATERAL (
        SELECT CASE WHEN a.actual_return > {flat_band} THEN 'up'
                    WHEN a.actual_return < -{flat_band} THEN 'down'
                    ELSE 'flat' END AS realized_direction
    ) r
    CROSS JOIN LATERAL (SELECT LEAST(GREATEST(p.probability, {eps}), 1 - {eps}) AS p_clipped) c
    WHERE p.status = 'ok'
      AND p.direction IS NOT NULL
      AND p.probability IS NOT NULL
      AND prev.close > 0
      AND p.target_date <= DATE '{day}'
"""
# The reference: what a DBA would write by hand to evaluate these rows (evaluated_at: its default, now()).
RAW_INSERT = """
    INSERT INTO evaluations (prediction_id, previous_close, actual_close, actual_return, realized_direction,
                             correct, brier, log_loss, strategy_return)
    {select}
"""
RAW_AGGREGATE = """
    SELECT count(*), count(*) FILTER (WHERE correct), sum(brier), sum(log_loss), sum(strategy_return)
    FROM ({select}) AS scored
"""
EVALUATIONS_AGGREGATE = """
    SELECT count(*), count(*) FILTER (WHERE correct), sum(brier), sum(log_loss), sum(strategy_return)
    FROM evaluations
"""
# Every column but evaluated_at, row by row (order-independent: a sum of row hashes).
EVALUATIONS_DIGEST = """
    SELECT count(*),
           sum(hashtextextended(concat_ws('|', prediction_id, previous_close, actual_close, actual_return,
                                          realized_direction, correct, brier, log_loss, strategy_return), 0)::numeric)
    FROM evaluations
"""
PERFORMANCE_FINGERPRINT = """
    SELECT count(*), sum(n), sum(hits), sum(brier * n), sum(cumulative_strategy_return),
           md5(string_agg(calibration::text, '' ORDER BY date, model_config_id))
    FROM daily_performance
"""

# What each statement of the service is, for the per-statement breakdown.
STATEMENT_LABELS = (
    ("WITH scored AS MATERIALIZED", "score + roll-up (one statement)"),
    ("UPDATE daily_performance", "roll-up: cumulative returns"),
    ("pg_advisory_xact_lock", "advisory lock"),
    ("set_config", "planner settings"),
    ("current_setting", "planner settings"),
)


def pg_connect(url: str) -> Any:
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
    connection.autocommit = True
    return connection


def load(url: str, *, stocks: int, models: int, days: list[date]) -> int:
    """Stocks, closes for every day, and stocks × models × (days − 1) predictions, all in SQL."""
    connection = pg_connect(url)
    try:
        cursor = connection.cursor()
        cursor.execute("BEGIN")
        cursor.execute(
            """
            INSERT INTO stocks (code, name, market, sector, active, watched)
            SELECT lpad(g::text, 6, '0'), '종목' || lpad(g::text, 6, '0'),
                   CASE WHEN g %% 3 = 0 THEN 'KOSDAQ' ELSE 'KOSPI' END, '전기전자', true, false
            FROM generate_series(1, %s) AS g
            """,
            (stocks,),
        )
        cursor.execute(
            """
            INSERT INTO model_configs (name, kind, provider, model_id, is_champion)
            SELECT 'bench-model-' || g, 'baseline', 'momentum', 'momentum', g = 1
            FROM generate_series(1, %s) AS g
            """,
            (models,),
        )
        # A deterministic zig-zag around a per-stock level: returns within ±3 %, some "flat".
        cursor.execute(
            """
            INSERT INTO daily_prices (code, date, open, high, low, close, volume, value, change, change_rate)
            SELECT code, day, close, close, close, close, 100000, close * 100000, 0, 0
            FROM (
                SELECT s.code, d.day,
                       (1000 + (s.code::int * 7919) %% 90000)
                         * (1000 + ((s.code::int * 31 + d.i * 17) %% 61) - 30) / 1000 AS close
                FROM stocks s CROSS JOIN unnest(CAST(%s AS date[])) WITH ORDINALITY AS d(day, i)
            ) AS bars
            """,
            ([day.isoformat() for day in days],),
        )
        # One prediction per (target day, model, stock), inserted day by day as predict does;
        # 1 % failed (no direction), probabilities in [0.34, 0.95), directions spread evenly.
        cursor.execute(
            """
            INSERT INTO predictions (stock_code, model_config_id, as_of_date, target_date, status, direction,
                                     probability, expected_return, rationale, prompt_version)
            SELECT s.code, m.id, d.as_of, d.target,
                   CASE WHEN h.v %% 100 = 0 THEN 'failed' ELSE 'ok' END,
                   CASE WHEN h.v %% 100 = 0 THEN NULL ELSE (ARRAY['up', 'down', 'flat'])[1 + h.v %% 3] END,
                   CASE WHEN h.v %% 100 = 0 THEN NULL ELSE 0.34 + (h.v %% 6100) / 10000.0 END,
                   CASE WHEN h.v %% 100 = 0 THEN NULL ELSE ((h.v %% 601) - 300) / 10000.0 END,
                   '근거 요약', 'v1'
            FROM unnest(CAST(%s AS date[]), CAST(%s AS date[])) AS d(as_of, target)
            CROSS JOIN model_configs m
            CROSS JOIN stocks s
            CROSS JOIN LATERAL (
                SELECT (s.code::bigint * 2654435761 + m.id * 40503 + (d.target - DATE '2000-01-01') * 97)
                       %% 1000003 AS v
            ) h
            ORDER BY d.target, m.id, s.code
            """,
            ([day.isoformat() for day in days[:-1]], [day.isoformat() for day in days[1:]]),
        )
        count: int = cursor.rowcount
        cursor.execute("COMMIT")
        cursor.execute("VACUUM ANALYZE")  # hint bits and statistics: neither side pays for the load
        return count
    finally:
        connection.close()


class StatementTimer:
    """Seconds per service statement (SQLAlchemy cursor events on the app's engine)."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()
        self._local = threading.local()

    def attach(self) -> Callable[[], None]:
        from sqlalchemy import event

        from shared.db.session import get_engine

        def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
            self._local.started = time.perf_counter()

        def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
            compact = re.sub(r"\s+", " ", statement)
            label = next((name for key, name in STATEMENT_LABELS if key in compact), "other statements")
            self.seconds[label] += time.perf_counter() - self._local.started

        engine = get_engine()
        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)

        def detach() -> None:
            event.remove(engine, "before_cursor_execute", before)
            event.remove(engine, "after_cursor_execute", after)

        return detach


def evaluate(day: date) -> dict[str, Any]:
    """One evaluate run's database work, timed by part."""
    from shared.config import get_settings
    from shared.db.session import session_scope
    from shared.evaluation import service as evaluation_service

    settings = get_settings()
    timer = StatementTimer()
    detach = timer.attach()
    try:
        started = time.perf_counter()
        with session_scope() as db_session:
            evaluated = evaluation_service.evaluate_matured_predictions(
                db_session=db_session,
                day=day,
                flat_band=settings.flat_band,
                round_trip_cost=2 * settings.commission_rate + settings.sell_tax_rate,
                catch_up_days=100_000,  # the whole loaded history is "unscored" on the first run
            )
            worked_at = time.perf_counter()
        finished = time.perf_counter()
    finally:
        detach()
    return {
        "total": finished - started,
        "work": worked_at - started,
        "commit": finished - worked_at,
        "statements": timer.seconds,
        "scored": sum(evaluated.scored.values()),
        "rows": evaluated.performance_rows,
        "dates": len(evaluated.dates),
    }


def raw_insert_pass(url: str, select: str, settings: dict[str, str] | None = None) -> dict[str, Any]:
    """The reference: the hand-written INSERT … SELECT into the empty evaluations table, committed
    (with `settings`, SET LOCAL in its transaction: the context pass with evaluate's planner settings).

    Returns its time and the digest of the rows it wrote, then empties the table again."""
    connection = pg_connect(url)
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT count(*) FROM evaluations")
        if cursor.fetchone()[0]:
            raise RuntimeError("the raw INSERT pass needs an empty evaluations table")
        started = time.perf_counter()
        cursor.execute("BEGIN")
        for name, value in (settings or {}).items():
            cursor.execute(f"SET LOCAL {name} = '{value}'")
        cursor.execute(RAW_INSERT.format(select=select))
        rows = cursor.rowcount
        cursor.execute("COMMIT")
        seconds = time.perf_counter() - started
        cursor.execute(EVALUATIONS_DIGEST)
        digest = tuple(cursor.fetchone())
        cursor.execute(EVALUATIONS_AGGREGATE)
        row = tuple(cursor.fetchone())
        cursor.execute("TRUNCATE evaluations")
        return {"seconds": seconds, "rows": rows, "digest": digest, "row": row}
    finally:
        connection.close()


def raw_passes(url: str, select: str) -> dict[str, Any]:
    """The read-only passes on a fresh connection, for context: temp table (as planned, then serial), aggregate."""
    connection = pg_connect(url)
    try:
        cursor = connection.cursor()
        started = time.perf_counter()
        cursor.execute(f"CREATE TEMP TABLE raw_pass AS {select}")
        materialised = time.perf_counter() - started
        cursor.execute("DROP TABLE raw_pass")
        started = time.perf_counter()
        cursor.execute(RAW_AGGREGATE.format(select=select))
        row = tuple(cursor.fetchone())
        aggregated = time.perf_counter() - started
        # INSERT … SELECT never runs in parallel in Postgres 15; the temp table's SELECT may.
        cursor.execute("SET max_parallel_workers_per_gather = 0")
        started = time.perf_counter()
        cursor.execute(f"CREATE TEMP TABLE raw_pass AS {select}")
        serial = time.perf_counter() - started
        cursor.execute("DROP TABLE raw_pass")
        return {"ctas": materialised, "aggregate": aggregated, "serial": serial, "row": row}
    finally:
        connection.close()


def aggregate(url: str, sql: str) -> tuple[Any, ...]:
    connection = pg_connect(url)
    try:
        cursor = connection.cursor()
        cursor.execute(sql)
        return tuple(cursor.fetchone())
    finally:
        connection.close()


def execute(url: str, sql: str) -> None:
    connection = pg_connect(url)
    try:
        connection.cursor().execute(sql)
    finally:
        connection.close()


def same(left: tuple[Any, ...], right: tuple[Any, ...]) -> bool:
    """Counts equal, float sums equal to 1e-9 relative (summation order differs)."""
    for a, b in zip(left, right, strict=True):
        if isinstance(a, float) or isinstance(b, float):
            if abs(float(a) - float(b)) > 1e-9 * max(1.0, abs(float(a))):
                return False
        elif a != b:
            return False
    return True


def run(url: str, day: date, predictions: int) -> None:
    from shared.config import get_settings
    from shared.evaluation.service import PLANNER_SETTINGS

    settings = get_settings()
    select = RAW_SELECT.format(
        cost=repr(float(2 * settings.commission_rate + settings.sell_tax_rate)),
        flat_band=repr(float(settings.flat_band)),
        eps=repr(EPS),
        day=day.isoformat(),
    )
    # Read both tables once so neither side pays for a cold cache.
    aggregate(url, "SELECT count(*), sum(close) FROM daily_prices")
    aggregate(url, "SELECT count(*), sum(probability) FROM predictions")

    before = raw_passes(url, select)
    execute(url, "CHECKPOINT")
    tuned_before = raw_insert_pass(url, select, PLANNER_SETTINGS)
    execute(url, "CHECKPOINT")
    insert_before = raw_insert_pass(url, select)
    execute(url, "CHECKPOINT")
    first = evaluate(day)
    evaluated_row = aggregate(url, EVALUATIONS_AGGREGATE)
    evaluated_digest = aggregate(url, EVALUATIONS_DIGEST)
    fingerprint = aggregate(url, PERFORMANCE_FINGERPRINT)
    execute(url, "CHECKPOINT")
    second = evaluate(day)
    evaluated_again = aggregate(url, EVALUATIONS_AGGREGATE)
    fingerprint_again = aggregate(url, PERFORMANCE_FINGERPRINT)
    execute(url, "TRUNCATE evaluations")  # checked above; the raw INSERT pass starts from an empty table
    execute(url, "CHECKPOINT")
    insert_after = raw_insert_pass(url, select)
    execute(url, "CHECKPOINT")
    tuned_after = raw_insert_pass(url, select, PLANNER_SETTINGS)
    after = raw_passes(url, select)

    raw = statistics.mean([insert_before["seconds"], insert_after["seconds"]])
    raw_tuned = statistics.mean([tuned_before["seconds"], tuned_after["seconds"]])
    raw_ctas = statistics.mean([before["ctas"], after["ctas"]])
    raw_agg = statistics.mean([before["aggregate"], after["aggregate"]])
    raw_serial = statistics.mean([before["serial"], after["serial"]])
    raw_row = before["row"]
    ratio = first["total"] / raw
    verdict = "met" if ratio <= TARGET else "MISSED"

    def line(label: str, seconds: float, note: str = "") -> None:
        print(f"{label:<48}{seconds:8.2f} s   {note}".rstrip())

    def times(label: str, value: float, note: str = "") -> None:
        print(f"{label:<48}{value:8.2f} ×   {note}".rstrip())

    print()
    print(f"{predictions:,} predictions, {raw_row[0]:,} of them scorable (status ok), evaluate day {day}")
    line(
        "raw pass: INSERT INTO evaluations … SELECT",
        raw,
        f"(before {insert_before['seconds']:.2f} s, after {insert_after['seconds']:.2f} s; "
        f"{insert_before['rows']:,} rows, committed)",
    )
    line(
        "raw pass: the same, evaluate's planner settings",
        raw_tuned,
        f"(before {tuned_before['seconds']:.2f} s, after {tuned_after['seconds']:.2f} s; "
        + ", ".join(f"{name} {value}" for name, value in PLANNER_SETTINGS.items())
        + ")",
    )
    line("raw pass: CREATE TEMP TABLE AS", raw_ctas, f"(before {before['ctas']:.2f} s, after {after['ctas']:.2f} s)")
    line("raw pass: temp table, serial plan", raw_serial, "(max_parallel_workers_per_gather = 0)")
    line("raw pass: aggregate only", raw_agg, f"(before {before['aggregate']:.2f} s, after {after['aggregate']:.2f} s)")
    line(
        "evaluate, first run",
        first["total"],
        f"scored {first['scored']:,}; {first['rows']} daily_performance rows over {first['dates']} dates",
    )
    line("  evaluate_matured_predictions", first["work"])
    for label, seconds in first["statements"].most_common():
        line(f"    {label}", seconds)
    line("    in Python between statements", first["work"] - sum(first["statements"].values()))
    line("  commit", first["commit"])
    times("evaluate / raw pass (INSERT … SELECT)", ratio, f"target ≤ {TARGET}: {verdict}")
    times("evaluate / raw pass (same settings)", first["total"] / raw_tuned, "(context: the plan evaluate gets)")
    times("evaluate / raw pass (temp table)", first["total"] / raw_ctas, "(context: no WAL, no keys, parallel)")
    times("evaluate / raw pass (temp table, serial)", first["total"] / raw_serial, "(context)")
    times("evaluate / raw pass (aggregate)", first["total"] / raw_agg, "(context: nothing written)")
    line(
        "evaluate, second run (idempotent)",
        second["total"],
        f"re-scored {second['scored']:,} (the day's own), {second['rows']} rows; {second['total'] / raw:.2f} × raw",
    )
    for label, seconds in second["statements"].most_common(2):
        line(f"    {label}", seconds)
    print(f"{'evaluations match the raw pass:':<49}{same(raw_row, evaluated_row)}  ({evaluated_row[0]:,} rows)")
    digests = (insert_before, insert_after, tuned_before, tuned_after)
    matches = all(insert["digest"] == evaluated_digest for insert in digests)
    print(f"{'raw INSERT wrote the rows evaluate writes:':<49}{matches}  (every column but evaluated_at)")
    unchanged = same(evaluated_row, evaluated_again) and same(fingerprint, fingerprint_again)
    print(f"{'second run changed nothing:':<49}{unchanged}")
    print("(one run on a shared, loaded 2-core machine: the same pass varied by up to a third from run to run)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--predictions", type=int, default=1_000_000)
    parser.add_argument("--stocks", type=int, default=2_500)
    parser.add_argument("--models", type=int, default=4)
    parser.add_argument("--last-day", type=date.fromisoformat, default=date(2024, 6, 28))
    parser.add_argument("--admin-url", default=ADMIN_URL)
    args = parser.parse_args()

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from shared.market_calendar import is_trading_day, previous_trading_day

    if not is_trading_day(args.last_day):
        parser.error(f"{args.last_day} is not a trading day")
    target_days = max(1, round(args.predictions / (args.stocks * args.models)))
    days = [args.last_day]
    while len(days) < target_days + 1:  # every target day and the as-of day before the first
        days.append(previous_trading_day(days[-1]))
    days.sort()

    name = f"stockinsight_bench_evaluate_{os.getpid()}"
    url = make_url(args.admin_url).set(database=name).render_as_string(hide_password=False)
    admin = create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        for variable in ("DATABASE_HOST", "SECRETS_SSM_PATH", "SECRETS_MANAGER_ID"):
            os.environ.pop(variable, None)
        os.environ.update({"DATABASE_URL": url, "POWERTOOLS_TRACE_DISABLED": "true"})
        from shared.container_state import reset_cached_clients
        from shared.db.migrate import upgrade_to_head

        reset_cached_clients()
        upgrade_to_head(url)
        started = time.perf_counter()
        count = load(url, stocks=args.stocks, models=args.models, days=days)
        print(
            f"loaded {args.stocks:,} stocks × {len(days)} closes and {count:,} predictions "
            f"({args.models} models × {target_days} target days) in {time.perf_counter() - started:.0f}s"
        )
        run(url, days[-1], count)
    finally:
        if "shared.container_state" in sys.modules:
            sys.modules["shared.container_state"].reset_cached_clients()  # disposes the app's engine
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
