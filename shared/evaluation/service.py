"""Scoring matured predictions and rolling them up per model and day, set-based in SQL.

No row is loaded into Python: at a million predictions a per-row loop would dominate the
function's run time. Every statement is an upsert, so re-running a day rewrites the same
numbers. The formulas mirror `shared.evaluation.statistics` (which the tests check by hand).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

# A prediction is matured when both closes it compares exist: the as-of day's and the target day's.
_SCORE_SQL = text(
    """
    WITH matured AS (
        SELECT p.id AS prediction_id,
               p.direction,
               p.probability,
               prev.close AS previous_close,
               cur.close AS actual_close,
               cur.close::float8 / prev.close - 1 AS actual_return
        FROM predictions p
        JOIN daily_prices cur ON cur.code = p.stock_code AND cur.date = p.target_date
        JOIN daily_prices prev ON prev.code = p.stock_code AND prev.date = p.as_of_date
        LEFT JOIN evaluations e ON e.prediction_id = p.id
        WHERE p.status = 'ok'
          AND p.direction IS NOT NULL
          AND p.probability IS NOT NULL
          AND prev.close > 0
          AND p.target_date BETWEEN CAST(:since AS date) AND CAST(:day AS date)
          AND (p.target_date = CAST(:day AS date) OR e.prediction_id IS NULL)
    ),
    realised AS (
        SELECT m.*,
               CASE WHEN actual_return > CAST(:flat_band AS float8) THEN 'up'
                    WHEN actual_return < -CAST(:flat_band AS float8) THEN 'down'
                    ELSE 'flat' END AS realized_direction
        FROM matured m
    ),
    scored AS (
        SELECT r.*,
               (r.direction = r.realized_direction) AS correct,
               LEAST(GREATEST(r.probability, CAST(:eps AS float8)), 1 - CAST(:eps AS float8)) AS p_clipped
        FROM realised r
    )
    , upserted AS (
    INSERT INTO evaluations (prediction_id, previous_close, actual_close, actual_return, realized_direction,
                             correct, brier, log_loss, strategy_return, evaluated_at)
    SELECT prediction_id, previous_close, actual_close, actual_return, realized_direction, correct,
           power(probability - CASE WHEN correct THEN 1 ELSE 0 END, 2),
           -ln(CASE WHEN correct THEN p_clipped ELSE 1 - p_clipped END),
           CASE direction WHEN 'up' THEN actual_return - CAST(:round_trip_cost AS float8)
                          WHEN 'down' THEN -actual_return - CAST(:round_trip_cost AS float8)
                          ELSE 0 END,
           now()
    FROM scored
    ON CONFLICT (prediction_id) DO UPDATE SET
        previous_close = EXCLUDED.previous_close,
        actual_close = EXCLUDED.actual_close,
        actual_return = EXCLUDED.actual_return,
        realized_direction = EXCLUDED.realized_direction,
        correct = EXCLUDED.correct,
        brier = EXCLUDED.brier,
        log_loss = EXCLUDED.log_loss,
        strategy_return = EXCLUDED.strategy_return,
        evaluated_at = EXCLUDED.evaluated_at
    RETURNING prediction_id
    )
    -- Dates, not a million ids, go back to Python: the roll-up works per target date.
    SELECT p.target_date, count(*)
    FROM upserted u JOIN predictions p ON p.id = u.prediction_id
    GROUP BY p.target_date
    ORDER BY p.target_date
    """
)

_AFFECTED_DATES_SQL = text("SELECT DISTINCT p.target_date FROM predictions p WHERE p.id = ANY(:ids) ORDER BY 1")

# Each evaluation counts once for its model overall (variant NULL) and once for its A/B
# variant, if it has one. Wilson interval with z = 1.96; calibration in ten probability bins.
_ROLLUP_SQL = text(
    """
    WITH scoped AS (
        SELECT p.target_date AS day, p.model_config_id, NULL::integer AS ab_variant_id,
               p.probability, e.correct, e.brier, e.log_loss, e.strategy_return
        FROM evaluations e JOIN predictions p ON p.id = e.prediction_id
        WHERE p.target_date = ANY(:dates)
        UNION ALL
        SELECT p.target_date, p.model_config_id, p.ab_variant_id,
               p.probability, e.correct, e.brier, e.log_loss, e.strategy_return
        FROM evaluations e JOIN predictions p ON p.id = e.prediction_id
        WHERE p.target_date = ANY(:dates) AND p.ab_variant_id IS NOT NULL
    ),
    totals AS (
        SELECT day, model_config_id, ab_variant_id,
               count(*) AS n,
               count(*) FILTER (WHERE correct) AS hits,
               avg(brier) AS brier,
               avg(log_loss) AS log_loss,
               avg(strategy_return) AS mean_strategy_return
        FROM scoped
        GROUP BY day, model_config_id, ab_variant_id
    ),
    bins AS (
        SELECT day, model_config_id, ab_variant_id,
               LEAST(floor(probability * 10)::int, 9) AS bin,
               count(*) AS n,
               avg(probability) AS mean_probability,
               avg(CASE WHEN correct THEN 1.0 ELSE 0.0 END) AS hit_rate
        FROM scoped
        GROUP BY day, model_config_id, ab_variant_id, LEAST(floor(probability * 10)::int, 9)
    ),
    calibration AS (
        SELECT day, model_config_id, ab_variant_id,
               jsonb_agg(jsonb_build_object(
                   'bin_low', bin / 10.0, 'bin_high', (bin + 1) / 10.0, 'n', n,
                   'mean_probability', round(mean_probability::numeric, 4),
                   'hit_rate', round(hit_rate::numeric, 4)) ORDER BY bin) AS bins
        FROM bins
        GROUP BY day, model_config_id, ab_variant_id
    ),
    wilson AS (
        SELECT t.*,
               t.hits::float8 / t.n AS p,
               1 + 3.8416 / t.n AS denominator
        FROM totals t
    )
    INSERT INTO daily_performance (date, model_config_id, ab_variant_id, n, hits, hit_rate, hit_rate_low,
                                   hit_rate_high, brier, log_loss, mean_strategy_return,
                                   cumulative_strategy_return, calibration, updated_at)
    SELECT w.day, w.model_config_id, w.ab_variant_id, w.n, w.hits, w.p,
           GREATEST(0, (w.p + 3.8416 / (2 * w.n)) / w.denominator
                    - 1.96 * sqrt(w.p * (1 - w.p) / w.n + 3.8416 / (4 * w.n * w.n)) / w.denominator),
           LEAST(1, (w.p + 3.8416 / (2 * w.n)) / w.denominator
                    + 1.96 * sqrt(w.p * (1 - w.p) / w.n + 3.8416 / (4 * w.n * w.n)) / w.denominator),
           w.brier, w.log_loss, w.mean_strategy_return, 0, c.bins, now()
    FROM wilson w
    JOIN calibration c USING (day, model_config_id)
    WHERE c.ab_variant_id IS NOT DISTINCT FROM w.ab_variant_id
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
    RETURNING id
    """
)

# Compounded daily returns of following every call of a model (per variant) in date order.
_CUMULATIVE_SQL = text(
    """
    UPDATE daily_performance dp
    SET cumulative_strategy_return = c.cumulative
    FROM (
        SELECT id,
               exp(sum(ln(GREATEST(1 + mean_strategy_return, 1e-9)))
                   OVER (PARTITION BY model_config_id, ab_variant_id ORDER BY date)) - 1 AS cumulative
        FROM daily_performance
        WHERE model_config_id = ANY(:model_ids)
    ) c
    WHERE dp.id = c.id AND dp.cumulative_strategy_return IS DISTINCT FROM c.cumulative
    """
)


def score_matured_predictions(
    *, db_session: Session, day: date, flat_band: float, round_trip_cost: float, catch_up_days: int
) -> dict[date, int]:
    """Evaluate every prediction whose target day has closed by `day`: that day's afresh, and
    older ones still unscored within `catch_up_days`. Returns how many were scored per target date."""
    rows = db_session.execute(
        _SCORE_SQL,
        {
            "day": day,
            "since": day - timedelta(days=catch_up_days),
            "flat_band": flat_band,
            "round_trip_cost": round_trip_cost,
            "eps": 1e-6,
        },
    )
    return {row[0]: int(row[1]) for row in rows}


def roll_up_daily_performance(*, db_session: Session, dates: list[date]) -> dict[str, Any]:
    """Recompute daily_performance for those target dates (and the running totals after them)."""
    if not dates:
        return {"dates": [], "rows": 0}
    written = db_session.execute(_ROLLUP_SQL, {"dates": dates}).all()
    model_ids = [
        row[0]
        for row in db_session.execute(
            text("SELECT DISTINCT model_config_id FROM daily_performance WHERE date = ANY(:dates)"), {"dates": dates}
        )
    ]
    db_session.execute(_CUMULATIVE_SQL, {"model_ids": model_ids})
    return {"dates": [day.isoformat() for day in dates], "rows": len(written)}
