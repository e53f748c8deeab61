"""Running a scheduled job: one Redis lock, one `job_runs` row, counts as metrics.

Every function's scheduled work goes through `run_job`, so the ops history and the
overlap guard are the same everywhere.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.config import get_settings
from shared.db.session import session_scope
from shared.jobs.models import JobRun, JobStatus
from shared.stores.redis import exclusive_lock

log = logging.getLogger(__name__)


class JobCounts(Counter[str]):
    """fetched / inserted / updated / skipped / failed / … for one run."""


@dataclass(slots=True)
class JobResult:
    function: str
    job: str
    run_date: str | None
    status: JobStatus
    counts: dict[str, int] = field(default_factory=dict)
    job_run_id: int | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "job": self.job,
            "run_date": self.run_date,
            "status": self.status.value,
            "counts": self.counts,
            "job_run_id": self.job_run_id,
            "error": self.error,
            **self.details,
        }


def _record(*, function: str, job: str, run_date: str | None, request_id: str | None) -> int:
    with session_scope() as db_session:
        row = JobRun(function=function, job=job, run_date=run_date, status=JobStatus.RUNNING, request_id=request_id)
        db_session.add(row)
        db_session.flush()
        return row.id


def _finish(job_run_id: int, *, status: JobStatus, counts: dict[str, int], error: str | None, started: float) -> None:
    with session_scope() as db_session:
        row = db_session.get_one(JobRun, job_run_id)
        row.status = status
        row.counts = counts
        row.error = error
        row.finished_at = datetime.now(UTC)
        row.duration_ms = int((time.perf_counter() - started) * 1000)


def _emit_metrics(function: str, job: str, counts: dict[str, int], duration_ms: float, status: JobStatus) -> None:
    # Imported here: the metrics singleton pulls in Powertools, which library callers
    # (tests, the local runner) need not configure.
    from aws_lambda_powertools.metrics import MetricUnit

    from shared.observability import metrics

    prefix = f"{function}_{job}"
    for name, value in counts.items():
        metrics.add_metric(name=f"{prefix}_{name}", unit=MetricUnit.Count, value=value)
    metrics.add_metric(name=f"{prefix}_duration", unit=MetricUnit.Milliseconds, value=duration_ms)
    metrics.add_metric(name=f"{prefix}_{status.value}", unit=MetricUnit.Count, value=1)


def run_job(
    *,
    function: str,
    job: str,
    run_date: str | None,
    work: Callable[[JobCounts], dict[str, Any] | None],
    request_id: str | None = None,
    lock_seconds: int | None = None,
    lock_key: str | None = None,
) -> JobResult:
    """Run `work` under the job's lock and record it; a second concurrent run is skipped.

    `work` fills the counts and may return details for the caller. An exception marks
    the run failed (with its message) and is re-raised so the trigger sees the failure.
    `lock_key` narrows the lock when runs of one job and date may overlap legitimately
    (e.g. distinct SQS batches); it defaults to the run date.
    """
    ttl = lock_seconds or get_settings().schedule_lock_seconds
    lock_name = f"{function}:{job}:{lock_key or run_date or '-'}"
    started = time.perf_counter()
    counts = JobCounts()
    try:
        lock_context = exclusive_lock(lock_name, ttl_seconds=ttl)
        acquired = lock_context.__enter__()
    except redis.RedisError as exc:
        # Jobs are idempotent, so running unguarded is safe; say so loudly.
        log.warning("schedule lock unavailable, running without it", extra={"lock": lock_name, "error": str(exc)})
        lock_context, acquired = None, True

    try:
        if not acquired:
            job_run_id = _record(function=function, job=job, run_date=run_date, request_id=request_id)
            message = "another run of this job holds the lock"
            _finish(job_run_id, status=JobStatus.SKIPPED, counts={}, error=message, started=started)
            log.info("job skipped: already running", extra={"lock": lock_name})
            return JobResult(function, job, run_date, JobStatus.SKIPPED, {}, job_run_id, message)

        job_run_id = _record(function=function, job=job, run_date=run_date, request_id=request_id)
        try:
            details = work(counts) or {}
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:2000]
            _finish(job_run_id, status=JobStatus.FAILED, counts=dict(counts), error=error, started=started)
            _emit_metrics(function, job, dict(counts), (time.perf_counter() - started) * 1000, JobStatus.FAILED)
            log.exception("job failed", extra={"job": job, "function": function, "counts": dict(counts)})
            raise
        _finish(job_run_id, status=JobStatus.SUCCEEDED, counts=dict(counts), error=None, started=started)
        _emit_metrics(function, job, dict(counts), (time.perf_counter() - started) * 1000, JobStatus.SUCCEEDED)
        log.info("job finished", extra={"job": job, "function": function, "counts": dict(counts)})
        return JobResult(function, job, run_date, JobStatus.SUCCEEDED, dict(counts), job_run_id, None, details)
    finally:
        if lock_context is not None:
            lock_context.__exit__(None, None, None)


def latest_runs(*, db_session: Session, function: str | None = None, limit: int = 50) -> list[JobRun]:
    query = select(JobRun).order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(limit)
    if function is not None:
        query = query.where(JobRun.function == function)
    return list(db_session.scalars(query))
