"""Scoring matured predictions and rolling them up per model and day, set-based in SQL.

No row is loaded into Python: at a million predictions a per-row loop would dominate the
function's run time. Re-running a day rewrites the same numbers: the day's own predictions
are re-scored, older ones only if still unscored or if a close they were scored on has
been corrected since, and the roll-up recomputes each touched day whole. The formulas
mirror `shared.evaluation.statistics` (which the tests check by hand).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

# Two evaluate runs for different days may overlap (the schedule lock is per day): the
# second waits here, and its statements then see what the first committed, so its plain
# INSERT does not collide with the first's. Held to the end of the transaction.
_LOCK_SQL = text("SELECT pg_advisory_xact_lock(hashtextextended('stockinsight:evaluate:score', 0))")

# One statement, one pass over the window's matured predictions (a prediction is matured
# when both closes it compares exist: the as-of day's and the target day's), each with its
# evaluation if it has one:
#
# - scored: the ones to (re)score — not scored yet, the day's own (a re-run rewrites them),
#   and those scored on a close that has been corrected since — with their scores.
# - rescored / inserted: a plain UPDATE of the ones that have an evaluation, a plain INSERT
#   of the others. Not INSERT … ON CONFLICT DO UPDATE over everything: that makes every
#   row a speculative insertion (an extra WAL record and index check each).
# - the roll-up of every target date touched, from the scored rows themselves plus the
#   date's evaluations left as they were (kept), read once into sums per (day, model,
#   variant, probability bin); the model-wide rows, the per-variant rows and their
#   calibration are sums of those. It cannot read evaluations after the writes: all parts
#   of one statement see the same snapshot, taken before them.
#
# Each evaluation counts once for its model overall (variant NULL) and once for its A/B
# variant, if it has one. Wilson interval with z = 1.96; calibration in ten probability bins.
# Dates and counts, not a million ids, go back to Python.
_EVALUATE_SQL = text(
    """
    WITH scored AS MATERIALIZED (
        SELECT p.id AS prediction_id,
               p.target_date,
               p.model_config_id,
               p.ab_variant_id,
               p.probability,
               e.prediction_id IS NOT NULL AS evaluated,
               prev.close AS previous_close,
               cur.close AS actual_close,
               a.actual_return,
               r.realized_direction,
               p.direction = r.realized_direction AS correct,
               power(p.probability - CASE WHEN p.direction = r.realized_direction THEN 1 ELSE 0 END, 2) AS brier,
               -ln(CASE WHEN p.direction = r.realized_direction THEN c.p_clipped ELSE 1 - c.p_clipped END)
                   AS log_loss,
               CASE p.direction WHEN 'up' THEN a.actual_return - CAST(:round_trip_cost AS float8)
                                WHEN 'down' THEN -a.actual_return - CAST(:round_trip_cost AS float8)
                                ELSE 0 END AS strategy_return
        FROM predictions p
        JOIN daily_prices cur ON cur.code = p.stock_code AND cur.date = p.target_date
        JOIN daily_prices prev ON prev.code = p.stock_code AND prev.date = p.as_of_date
        LEFT JOIN evaluations e ON e.prediction_id = p.id
        CROSS JOIN LATERAL (SELECT cur.close::float8 / prev.close - 1 AS actual_return) a
        CROSS JOIN LATERAL (
            SELECT CASE WHEN a.actual_return > CAST(:flat_band AS float8) THEN 'up'
                        WHEN a.actual_return < -CAST(:flat_band AS float8) THEN 'down'
                        ELSE 'flat' END AS realized_direction
        ) r
        CROSS JOIN LATERAL (
            SELECT LEAST(GREATEST(p.probability, CAST(:eps AS float8)), 1 - CAST(:eps AS float8)) AS p_clipped
        ) c
        WHERE p.status = 'ok'
          AND p.direction IS NOT NULL
          AND p.probability IS NOT NULL
          AND prev.close > 0
          AND p.target_date BETWEEN CAST(:since AS date) AND CAST(:day AS date)
          -- implied by the join; stated so that the planner narrows the scan of the target closes
          AND cur.date BETWEEN CAST(:since AS date) AND CAST(:day AS date)
          AND (e.prediction_id IS NULL
               OR p.target_date = CAST(:day AS date)
               OR e.previous_close <> prev.close
               OR e.actual_close <> cur.close)
    ),
    rescored AS (
        UPDATE evaluations e
        SET previous_close = s.previous_close,
            actual_close = s.actual_close,
            actual_return = s.actual_return,
            realized_direction = s.realized_direction,
            correct = s.correct,
            brier = s.brier,
            log_loss = s.log_loss,
            strategy_return = s.strategy_return,
            evaluated_at = now()
        FROM scored s
        -- The ids as an array, so that the rows are found by primary key: the planner cannot
        -- tell how many of the scored rows are re-scores, and a hash join on a guess of half
        -- of them reads the whole table to rewrite one day.
        WHERE e.prediction_id = ANY(ARRAY(SELECT prediction_id FROM scored WHERE evaluated))
          AND s.prediction_id = e.prediction_id
    ),
    inserted AS (
        INSERT INTO evaluations (prediction_id, previous_close, actual_close, actual_return, realized_direction,
                                 correct, brier, log_loss, strategy_return, evaluated_at)
        SELECT prediction_id, previous_close, actual_close, actual_return, realized_direction,
               correct, brier, log_loss, strategy_return, now()
        FROM scored
        WHERE NOT evaluated
    ),
    per_date AS (
        SELECT target_date, count(*) AS n
        FROM scored
        GROUP BY target_date
    ),
    kept AS (
        SELECT p.target_date, p.model_config_id, p.ab_variant_id, p.probability,
               e.correct, e.brier, e.log_loss, e.strategy_return
        FROM evaluations e
        JOIN predictions p ON p.id = e.prediction_id
        WHERE p.target_date = ANY(ARRAY(SELECT target_date FROM per_date))
          AND NOT EXISTS (SELECT FROM scored s WHERE s.evaluated AND s.prediction_id = e.prediction_id)
    ),
    binned AS (
        SELECT target_date AS day, model_config_id, ab_variant_id,
               LEAST(floor(probability * 10)::int, 9) AS bin,
               count(*) AS n,
               count(*) FILTER (WHERE correct) AS hits,
               sum(probability) AS probability,
               sum(brier) AS brier,
               sum(log_loss) AS log_loss,
               sum(strategy_return) AS strategy_return
        FROM (
            SELECT target_date, model_config_id, ab_variant_id, probability, correct, brier, log_loss,
                   strategy_return
            FROM scored
            UNION ALL
            SELECT * FROM kept
        ) AS evaluated_rows
        GROUP BY 1, 2, 3, 4
    ),
    scoped AS (
        SELECT day, model_config_id, NULL::integer AS ab_variant_id, bin,
               sum(n) AS n, sum(hits) AS hits, sum(probability) AS probability,
               sum(brier) AS brier, sum(log_loss) AS log_loss, sum(strategy_return) AS strategy_return
        FROM binned
        GROUP BY day, model_config_id, bin
        UNION ALL
        SELECT day, model_config_id, ab_variant_id, bin, n, hits, probability, brier, log_loss, strategy_return
        FROM binned
        WHERE ab_variant_id IS NOT NULL
    ),
    totals AS (
        SELECT day, model_config_id, ab_variant_id,
               sum(n)::integer AS n,
               sum(hits)::integer AS hits,
               sum(brier) / sum(n) AS brier,
               sum(log_loss) / sum(n) AS log_loss,
               sum(strategy_return) / sum(n) AS mean_strategy_return,
               jsonb_agg(jsonb_build_object(
                   'bin_low', bin / 10.0, 'bin_high', (bin + 1) / 10.0, 'n', n,
                   'mean_probability', round((probability / n)::numeric, 4),
                   'hit_rate', round(hits::numeric / n, 4)) ORDER BY bin) AS calibration
        FROM scoped
        GROUP BY day, model_config_id, ab_variant_id
    ),
    wilson AS (
        SELECT t.*,
               t.hits::float8 / t.n AS p,
               1 + 3.8416 / t.n AS denominator
        FROM totals t
    ),
    performance AS (
        INSERT INTO daily_performance (date, model_config_id, ab_variant_id, n, hits, hit_rate, hit_rate_low,
                                       hit_rate_high, brier, log_loss, mean_strategy_return,
                                       cumulative_strategy_return, calibration, updated_at)
        SELECT w.day, w.model_config_id, w.ab_variant_id, w.n, w.hits, w.p,
               GREATEST(0, (w.p + 3.8416 / (2 * w.n)) / w.denominator
                        - 1.96 * sqrt(w.p * (1 - w.p) / w.n + 3.8416 / (4 * w.n * w.n)) / w.denominator),
               LEAST(1, (w.p + 3.8416 / (2 * w.n)) / w.denominator
                        + 1.96 * sqrt(w.p * (1 - w.p) / w.n + 3.8416 / (4 * w.n * w.n)) / w.denominator),
               w.brier, w.log_loss, w.mean_strategy_return, 0, w.calibration, now()
        FROM wilson w
        ON CONFLICT ON CONSTRAINT uq_daily_performance_date_model_config_id_ab_variant_id DO UPDATE SET
            n = EXCLUDED.n,
            hits = EXCLUDED.hits,
            hit_rate = EXCLUDED.hit_rate,
            hit_rate_low = EXCLUDED.hit_rate_low,
            hit_rate_high = EXCLUDED.hit_rate_high,
            brier = EXCLUDED.brier,
            log_loss = EXCLUDED.log_loss,
            mean_strategy_return = EXCLUDED.mean_strategy_return,
            calibration = EXCLUDED.calibration,
            updated_at = EXCLUDED.updated_at
        RETURNING 1
    )
    SELECT target_date, n, (SELECT count(*) FROM performance) AS performance_rows
    FROM per_date
    ORDER BY target_date
    """
)

# Compounded daily returns of following every call of a model (per variant) in date order,
# for the models that have a row on one of the dates. A statement of its own: it reads the
# rows the one above wrote.
_CUMULATIVE_SQL = text(
    """
    UPDATE daily_performance dp
    SET cumulative_strategy_return = c.cumulative
    FROM (
        SELECT id,
               exp(sum(ln(GREATEST(1 + mean_strategy_return, 1e-9)))
                   OVER (PARTITION BY model_config_id, ab_variant_id ORDER BY date)) - 1 AS cumulative
        FROM daily_performance
        WHERE model_config_id IN (SELECT model_config_id FROM daily_performance WHERE date = ANY(:dates))
    ) c
    WHERE dp.id = c.id AND dp.cumulative_strategy_return IS DISTINCT FROM c.cumulative
    """
)

# Planner settings for the evaluate statement only (set_config(…, true) is local to the
# transaction, and the previous values are put back right after it):
# - work_mem: the closes of the window are hashed once each (~15 MB per 250,000 closes)
#   and so are its evaluations (~60 MB per million, as hash_mem_multiplier allows twice
#   work_mem), the scored rows are kept for the writes and the roll-up (spilling to a temp
#   file past 64 MB), and the roll-up aggregates in memory; with the 4 MB default the
#   hashes are split into batches written to temp files and read back.
# - enable_memoize off: on a large window the planner prices a memoized index probe per
#   prediction (into daily_prices, or into predictions driven from daily_prices) below two
#   hash joins, and it is two to three times slower at 1,000,000 predictions: the keys are
#   nearly all distinct, so the cache only misses. Plain index nested loops remain for a
#   small window.
# - jit off: the statement is big enough to pass jit_inline_above_cost and
#   jit_optimize_above_cost, and compiling it took 3.5 s (EXPLAIN ANALYZE) in a re-run of a
#   day that takes about 1.5 s without it.
PLANNER_SETTINGS = {"work_mem": "64MB", "enable_memoize": "off", "jit": "off"}
_SET_SQL = text(
    "SELECT set_config(name, value, true)"
    " FROM unnest(CAST(:names AS text[]), CAST(:values AS text[])) AS setting(name, value)"
)
_CURRENT_SQL = text("SELECT name, current_setting(name) FROM unnest(CAST(:names AS text[])) AS name")


@dataclass(frozen=True, slots=True)
class EvaluationRun:
    """What one run wrote: (re)scored predictions per target date, and the daily_performance
    rows rewritten for those dates."""

    scored: dict[date, int]
    performance_rows: int

    @property
    def dates(self) -> list[date]:
        return sorted(self.scored)


def evaluate_matured_predictions(
    *, db_session: Session, day: date, flat_band: float, round_trip_cost: float, catch_up_days: int
) -> EvaluationRun:
    """Score every prediction whose target day has closed by `day` — that day's afresh, older ones
    within `catch_up_days` if still unscored or scored on a close corrected since — and recompute
    daily_performance for every target date touched (and the running totals after them)."""
    db_session.execute(_LOCK_SQL)
    names = list(PLANNER_SETTINGS)
    previous = db_session.execute(_CURRENT_SQL, {"names": names}).all()
    db_session.execute(_SET_SQL, {"names": names, "values": [PLANNER_SETTINGS[name] for name in names]})
    rows = db_session.execute(
        _EVALUATE_SQL,
        {
            "day": day,
            "since": day - timedelta(days=catch_up_days),
            "flat_band": flat_band,
            "round_trip_cost": round_trip_cost,
            "eps": 1e-6,
        },
    ).all()
    # Not in a finally: after an error the transaction is rolled back, and these settings with it.
    db_session.execute(_SET_SQL, {"names": [row[0] for row in previous], "values": [row[1] for row in previous]})
    run = EvaluationRun(
        scored={row.target_date: int(row.n) for row in rows},
        performance_rows=int(rows[0].performance_rows) if rows else 0,
    )
    if run.scored:
        db_session.execute(_CUMULATIVE_SQL, {"dates": run.dates})
    return run
