"""The notify function as Lambda runs it: stored SQS and schedule events through `lambda_handler`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from functions.notify.handler import lambda_handler
from shared.events import InvalidEventError
from shared.jobs.models import JobRun, JobStatus
from shared.notifications.models import Notification, NotificationKind, NotificationStatus


def _job_runs(db_session: Any, job: str) -> list[JobRun]:
    db_session.expire_all()
    return list(db_session.scalars(select(JobRun).where(JobRun.function == "notify", JobRun.job == job)))


def test_sqs_event_delivers_and_reports_partial_failures(
    telegram: Any, seed: Callable[..., Any], load_event: Callable[..., Any], lambda_context: Any, db_session: Any
) -> None:
    seed()
    event = load_event("notify_sqs_signal")
    event["Records"].append({**event["Records"][0], "messageId": "poison-1", "body": '{"kind": "signal"}'})

    response = lambda_handler(event, lambda_context)

    assert response == {"batchItemFailures": [{"itemIdentifier": "poison-1"}]}
    chats = sorted(str(message["chat_id"]) for message in telegram.telegram_messages)
    assert chats == ["1001", "1001", "1002", "1002", "1003"]  # signal: alice, bob; alert: + carol
    (run,) = _job_runs(db_session, "deliver")
    assert run.status is JobStatus.SUCCEEDED and run.request_id == lambda_context.aws_request_id
    assert run.counts["sent"] == 5 and run.counts["records"] == 3 and run.counts["records_failed"] == 1
    assert run.counts["malformed"] == 1

    # The same batch again (a redelivery): nothing is sent twice.
    assert lambda_handler(load_event("notify_sqs_signal"), lambda_context) == {"batchItemFailures": []}
    assert len(telegram.telegram_messages) == 5


def test_daily_summary_sends_each_subscriber_their_scored_calls_once(
    telegram: Any,
    seed: Callable[..., Any],
    score: Callable[..., None],
    load_event: Callable[..., Any],
    lambda_context: Any,
    db_session: Any,
) -> None:
    seed()
    score(date(2024, 1, 3))

    result = lambda_handler(load_event("notify_daily_summary"), lambda_context)

    assert result["status"] == "succeeded" and result["target_date"] == "2024-01-03"
    assert result["counts"]["sent"] == 3 and result["counts"]["recipients"] == 3
    by_chat = {str(message["chat_id"]): message["text"] for message in telegram.telegram_messages}
    assert sorted(by_chat) == ["1001", "1002", "1003"]  # linked, active, enabled watchers only
    bob = by_chat["1002"]  # watches both stocks: 4 calls, the SK하이닉스 ones wrong
    assert "일일 예측 결과 · 2024-01-03" in bob and "관심 종목 예측 4건 중 2건 적중" in bob
    assert "<b>SK하이닉스</b> (000660)" in bob and "→ 실제 -0.87% ✗" in bob and "→ 실제 +1.23% ✓" in bob
    assert "<b>모델 적중률</b>" in bob and "· gpt-4o-v1: 50.0% (1/2)" in bob
    alice = by_chat["1001"]
    assert "관심 종목 예측 2건 중 2건 적중" in alice and "SK하이닉스" not in alice.split("모델 적중률")[0]
    keys = set(db_session.scalars(select(Notification.dedupe_key)))
    assert keys == {"summary:2024-01-03:1001", "summary:2024-01-03:1002", "summary:2024-01-03:1003"}
    kinds = set(db_session.scalars(select(Notification.kind)))
    assert kinds == {NotificationKind.DAILY_SUMMARY}

    # A re-run (retry, or by hand) a day later still means the same evaluated day: nothing new.
    again = lambda_handler(load_event("notify_daily_summary", date="2024-01-04"), lambda_context)
    assert again["target_date"] == "2024-01-03" and again["counts"]["skipped"] == 3
    assert len(telegram.telegram_messages) == 3
    runs = _job_runs(db_session, "daily_summary")
    assert [run.status for run in runs] == [JobStatus.SUCCEEDED, JobStatus.SUCCEEDED]


def test_daily_summary_before_any_evaluation_sends_nothing(
    telegram: Any, seed: Callable[..., Any], load_event: Callable[..., Any], lambda_context: Any
) -> None:
    seed()
    result = lambda_handler(load_event("notify_daily_summary"), lambda_context)
    assert result["status"] == "succeeded" and result["target_date"] is None
    assert telegram.telegram_messages == []


def test_daily_summary_without_token_records_what_it_would_send(
    seed: Callable[..., Any],
    score: Callable[..., None],
    load_event: Callable[..., Any],
    lambda_context: Any,
    db_session: Any,
    settings_env: Callable[..., Any],
    redis_client: Any,
) -> None:
    settings_env(TELEGRAM_BOT_TOKEN="")
    seed()
    score(date(2024, 1, 3))
    result = lambda_handler(load_event("notify_daily_summary"), lambda_context)
    assert result["counts"]["skipped_no_token"] == 3
    statuses = set(db_session.scalars(select(Notification.status)))
    assert statuses == {NotificationStatus.SKIPPED_NO_TOKEN}


@pytest.mark.filterwarnings("ignore:No application metrics")
def test_unknown_job_is_a_clear_error(lambda_context: Any, database: Any) -> None:
    with pytest.raises(InvalidEventError, match="unknown job 'send_everything'"):
        lambda_handler({"job": "send_everything"}, lambda_context)


@pytest.mark.filterwarnings("ignore:No application metrics")
def test_records_from_another_source_are_refused(lambda_context: Any, database: Any) -> None:
    event = {"Records": [{"eventSource": "aws:s3", "s3": {}}]}
    with pytest.raises(InvalidEventError, match="not records from"):
        lambda_handler(event, lambda_context)
