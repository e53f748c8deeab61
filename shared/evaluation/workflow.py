"""The evaluate function's run: score what matured, roll up performance, refresh the caches it feeds."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.config import get_settings
from shared.db.session import session_scope
from shared.evaluation import service as evaluation_service
from shared.evaluation.comparison import compare_with_baselines
from shared.events import ScheduledJob
from shared.jobs.service import JobCounts, JobResult, run_job
from shared.market_calendar import is_trading_day
from shared.predictions import list_totals
from shared.predictions.models import ModelConfig, ModelKind
from shared.stores.redis import invalidate_namespace

log = logging.getLogger(__name__)

# Caches computed from evaluations and daily_performance (read by the api); list totals
# change too (the `evaluated` filter).
DERIVED_CACHE_NAMESPACES = ("dashboard", "performance", list_totals.NAMESPACE)


def run_evaluation(job: ScheduledJob, *, request_id: str | None = None) -> JobResult:
    settings = get_settings()
    day = job.date

    def work(counts: JobCounts) -> dict[str, Any]:
        if not is_trading_day(day):
            counts["skipped_non_trading_day"] += 1
            return {"day": day.isoformat()}
        with session_scope() as db_session:
            evaluated = evaluation_service.evaluate_matured_predictions(
                db_session=db_session,
                day=day,
                flat_band=settings.flat_band,
                round_trip_cost=2 * settings.commission_rate + settings.sell_tax_rate,
                catch_up_days=settings.evaluation_catch_up_days,
            )
            versus_baselines = _versus_baselines(db_session=db_session, day=day)
            ab_tests = _running_ab_tests(db_session=db_session)
        counts["evaluated"] += sum(evaluated.scored.values())
        counts["performance_rows"] += evaluated.performance_rows
        invalidated = sum(invalidate_namespace(namespace) for namespace in DERIVED_CACHE_NAMESPACES)
        counts["caches_invalidated"] += invalidated
        log.info("models versus baselines", extra={"day": day.isoformat(), "comparisons": versus_baselines})
        log.info("running A/B tests", extra={"day": day.isoformat(), "ab_tests": ab_tests})
        return {
            "day": day.isoformat(),
            "dates_rolled_up": [rolled_up.isoformat() for rolled_up in evaluated.dates],
            "versus_baselines": versus_baselines,
            "ab_tests": ab_tests,
        }

    return run_job(function="evaluate", job="run", run_date=day.isoformat(), work=work, request_id=request_id)


def _versus_baselines(*, db_session: Session, day: date) -> list[dict[str, Any]]:
    """The day's calls of every non-baseline model against each baseline, on the same stocks."""
    models = db_session.scalars(select(ModelConfig).where(ModelConfig.kind != ModelKind.BASELINE))
    return [
        {
            "model": model.name,
            "baseline": comparison.baseline_name,
            "n": comparison.n,
            "model_hit_rate": round(comparison.model_hit_rate, 4),
            "baseline_hit_rate": round(comparison.baseline_hit_rate, 4),
            "lift": round(comparison.hit_rate_lift, 4),
        }
        for model in models
        for comparison in compare_with_baselines(db_session=db_session, model_config_id=model.id, start=day, end=day)
    ]


def _running_ab_tests(*, db_session: Session) -> list[dict[str, Any]]:
    """Per running test: each variant's n and hit rate, and whether a call can be made yet."""
    from shared.abtest import service as abtest_service
    from shared.abtest.models import AbTest, AbTestStatus

    tests = list(db_session.scalars(select(AbTest).where(AbTest.status == AbTestStatus.RUNNING)))
    summaries = []
    for test in abtest_service.describe(db_session=db_session, tests=tests):
        summaries.append(
            {
                "ab_test": test.name,
                "variants": [{"name": v.name, "n": v.n, "hit_rate": v.hit_rate} for v in test.variants],
                "comparisons": [comparison.model_dump(mode="json") for comparison in test.comparisons],
            }
        )
    return summaries
