"""The evaluate function's run: score what matured, roll up performance, refresh the caches it feeds."""

from __future__ import annotations

from typing import Any

from shared.config import get_settings
from shared.db.session import session_scope
from shared.evaluation import service as evaluation_service
from shared.events import ScheduledJob
from shared.jobs.service import JobCounts, JobResult, run_job
from shared.market_calendar import is_trading_day
from shared.stores.redis import invalidate_namespace

# Caches computed from evaluations and daily_performance (read by the api).
DERIVED_CACHE_NAMESPACES = ("dashboard", "performance")


def run_evaluation(job: ScheduledJob, *, request_id: str | None = None) -> JobResult:
    settings = get_settings()
    day = job.date

    def work(counts: JobCounts) -> dict[str, Any]:
        if not is_trading_day(day):
            counts["skipped_non_trading_day"] += 1
            return {"day": day.isoformat()}
        with session_scope() as db_session:
            scored = evaluation_service.score_matured_predictions(
                db_session=db_session,
                day=day,
                flat_band=settings.flat_band,
                round_trip_cost=2 * settings.commission_rate + settings.sell_tax_rate,
            )
            rollup = evaluation_service.roll_up_daily_performance(db_session=db_session, prediction_ids=scored)
        counts["evaluated"] += len(scored)
        counts["performance_rows"] += rollup["rows"]
        invalidated = sum(invalidate_namespace(namespace) for namespace in DERIVED_CACHE_NAMESPACES)
        counts["caches_invalidated"] += invalidated
        return {"day": day.isoformat(), "dates_rolled_up": rollup["dates"]}

    return run_job(function="evaluate", job="run", run_date=day.isoformat(), work=work, request_id=request_id)
