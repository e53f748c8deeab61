"""Typed trigger events: what a schedule, SQS or a person invoking by hand sends.

A schedule's `Input` is `{"job": "prices", "date": "2026-11-20"}` (date optional; a range
`start`/`end` for backfills). A plain EventBridge scheduled event carries no job: the
function's default job runs for the date of its `time`. Dates resolve in Asia/Seoul.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from shared.market_calendar import KST, today_kst


class InvalidEventError(ValueError):
    """The event does not have a shape this function accepts; the message says why."""


class ScheduledJob(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    job: str
    date: dt.date
    start: dt.date | None = None
    end: dt.date | None = None
    scheduled_at: dt.datetime | None = None

    @model_validator(mode="after")
    def _range_is_ordered(self) -> ScheduledJob:
        if (self.start is None) != (self.end is None):
            raise ValueError("start and end go together")
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ValueError("start must not be after end")
        return self

    @property
    def is_range(self) -> bool:
        return self.start is not None


def parse_scheduled_job(
    event: Mapping[str, Any], *, allowed_jobs: Iterable[str], default_job: str, now: dt.datetime | None = None
) -> ScheduledJob:
    allowed = set(allowed_jobs)
    if not isinstance(event, Mapping):
        raise InvalidEventError("event must be a JSON object")
    payload: dict[str, Any] = dict(event)
    scheduled_at: dt.datetime | None = None
    if payload.get("detail-type") == "Scheduled Event" or payload.get("source") == "aws.events":
        raw_time = payload.get("time")
        try:
            scheduled_at = dt.datetime.fromisoformat(str(raw_time).replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidEventError(f"scheduled event has an unreadable time {raw_time!r}") from exc
        payload = {"job": default_job, "date": scheduled_at.astimezone(KST).date()}
    payload.setdefault("job", default_job)
    if payload["job"] not in allowed:
        raise InvalidEventError(f"unknown job {payload['job']!r}; expected one of {sorted(allowed)}")
    if payload.get("date") is None:
        payload["date"] = payload.get("end") or today_kst(now)
    payload["scheduled_at"] = scheduled_at
    try:
        return ScheduledJob.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'event'}: {err['msg']}" for err in exc.errors())
        raise InvalidEventError(f"invalid scheduled event: {problems}") from exc
