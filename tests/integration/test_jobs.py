"""run_job: the ops row, the overlap guard and failure recording are the same for every function."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from shared.jobs.models import JobRun, JobStatus
from shared.jobs.service import JobCounts, run_job
from shared.stores.redis import exclusive_lock


def _rows(db_session: Any) -> list[JobRun]:
    db_session.expire_all()
    return list(db_session.scalars(select(JobRun).order_by(JobRun.id)))


def test_success_records_counts_and_duration(db_session: Any, redis_client: Any) -> None:
    def work(counts: JobCounts) -> dict[str, Any]:
        counts["fetched"] += 3
        counts["inserted"] += 2
        return {"extra": "detail"}

    result = run_job(function="crawl", job="prices", run_date="2024-01-05", work=work, request_id="req-1")
    assert result.status == JobStatus.SUCCEEDED and result.as_dict()["extra"] == "detail"
    [row] = _rows(db_session)
    assert (row.function, row.job, row.run_date, row.request_id) == ("crawl", "prices", "2024-01-05", "req-1")
    assert row.status == JobStatus.SUCCEEDED and row.counts == {"fetched": 3, "inserted": 2}
    assert row.finished_at is not None and row.duration_ms is not None


def test_failure_is_recorded_and_re_raised(db_session: Any, redis_client: Any) -> None:
    def work(counts: JobCounts) -> None:
        counts["fetched"] += 1
        raise RuntimeError("upstream answered nonsense")

    with pytest.raises(RuntimeError, match="nonsense"):
        run_job(function="crawl", job="news", run_date="2024-01-05", work=work)
    [row] = _rows(db_session)
    assert row.status == JobStatus.FAILED and row.counts == {"fetched": 1}
    assert row.error == "RuntimeError: upstream answered nonsense"


def test_an_overlapping_run_is_skipped(db_session: Any, redis_client: Any) -> None:
    ran: list[str] = []
    with exclusive_lock("evaluate:run:2024-01-05", ttl_seconds=30):
        result = run_job(function="evaluate", job="run", run_date="2024-01-05", work=lambda counts: ran.append("x"))
    assert result.status == JobStatus.SKIPPED and ran == []
    assert [row.status for row in _rows(db_session)] == [JobStatus.SKIPPED]
    # Another date is another lock.
    run_job(function="evaluate", job="run", run_date="2024-01-08", work=lambda counts: None)
    assert [row.status for row in _rows(db_session)] == [JobStatus.SKIPPED, JobStatus.SUCCEEDED]


def test_runs_without_redis_rather_than_not_at_all(db_session: Any, settings_env: Callable[..., Any]) -> None:
    settings_env(REDIS_URL="redis://127.0.0.1:1/0")
    result = run_job(function="evaluate", job="run", run_date="2024-01-05", work=lambda counts: None)
    assert result.status == JobStatus.SUCCEEDED
