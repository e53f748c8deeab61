"""Delivering notifications: the notify queue's batches and the daily summary.

Per outgoing message: ledger row first (pending), then a Redis claim (so a duplicate
queue message handled concurrently elsewhere cannot send it too), then the shared rate
limiter, then Telegram, then the outcome. Sends of one invocation run concurrently on
one event loop (`asyncio.Runner`), one PTB Bot; database work stays synchronous and is
batched (outcomes are written every `OUTCOME_FLUSH_SIZE` sends and at the end of each
queue record), which keeps the window in which a crash could cause a resend small.

Queue batches are recorded in `job_runs` as job `deliver` (run date: today) under a
per-invocation lock key: `run_job`'s lock exists so that two runs of one schedule do not
do the same work twice, but concurrent SQS batches carry different messages (concurrency
is bounded by the event source's MaximumConcurrency, duplicates by the ledger and the
claims), and a batch that found the lock taken would be skipped — its messages reported
as processed and deleted unsent. Keying by the first message id would not do either: SQS
regroups redelivered messages, so two different batches can share a first message.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections import defaultdict
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from shared.config import Settings, get_settings
from shared.db.session import session_scope
from shared.events import InvalidEventError, ScheduledJob
from shared.jobs.models import JobStatus
from shared.jobs.service import JobCounts, JobResult, run_job
from shared.market_calendar import today_kst
from shared.notifications import formatting
from shared.notifications import service as notification_service
from shared.notifications.messages import AlertMessage, SignalMessage, notify_message_adapter
from shared.notifications.models import NotificationKind, NotificationStatus
from shared.notifications.service import NotificationOutcome, OutgoingMessage, PendingNotification, Recipient
from shared.notifications.telegram import Deadline, SendResult, SendStatus, TelegramSender
from shared.stores.redis import KEY_PREFIX, get_redis

log = logging.getLogger(__name__)
T = TypeVar("T")

OUTCOME_FLUSH_SIZE = 100
SUMMARY_WINDOW_DAYS = 30
# Counts every run reports (as job_runs counts and metrics), even when zero.
REPORTED_COUNTS = ("sent", "skipped", "skipped_no_token", "failed", "retryable", "deferred", "throttled", "blocked")


class MalformedMessageError(ValueError):
    """A queue message that is not a notify message; it fails alone and ends in the DLQ."""


class DeliveryIncompleteError(RuntimeError):
    """Some messages were not delivered yet; the trigger's retry sends them (and only them)."""


@dataclass(slots=True)
class DeliveryReport:
    messages: int = 0
    sent: int = 0
    unfinished: int = 0  # transient failures, deferrals and rows in flight elsewhere


# --- building messages --------------------------------------------------------


def parse_queue_body(body: str | None) -> SignalMessage | AlertMessage:
    try:
        return notify_message_adapter.validate_json(body or "")
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'body'}: {err['msg']}" for err in exc.errors())
        raise MalformedMessageError(f"not a notify message ({problems}): {str(body)[:500]!r}") from exc


def message_parts(
    *, dedupe_key: str, recipient: Recipient, kind: NotificationKind, text: str, payload: dict[str, Any]
) -> list[OutgoingMessage]:
    """One ledger row per Telegram message: a long text becomes parts `key`, `key#2`, …"""
    parts = formatting.split_html(text)
    return [
        OutgoingMessage(
            dedupe_key=dedupe_key if index == 1 else f"{dedupe_key}#{index}",
            recipient=recipient,
            kind=kind,
            text=part,
            payload=payload if len(parts) == 1 else {**payload, "part": index, "parts": len(parts)},
        )
        for index, part in enumerate(parts, start=1)
    ]


def messages_for(message: SignalMessage | AlertMessage, *, settings: Settings) -> list[OutgoingMessage]:
    payload = message.model_dump(mode="json")
    with session_scope() as db_session:
        if isinstance(message, SignalMessage):
            recipients = notification_service.signal_recipients(
                db_session=db_session,
                stock_code=message.stock_code,
                probability=message.probability,
                broadcast_chat_id=settings.telegram_broadcast_chat_id,
            )
            text = formatting.format_signal(message, frontend_base_url=settings.frontend_base_url)
            kind = NotificationKind.SIGNAL
        else:
            recipients = notification_service.alert_recipients(db_session=db_session, stock_code=message.stock_code)
            text = formatting.format_alert(message)
            kind = NotificationKind.ALERT
    outgoing: list[OutgoingMessage] = []
    for recipient in recipients:
        outgoing += message_parts(
            dedupe_key=f"{message.dedupe_key}:{recipient.chat_id}",
            recipient=recipient,
            kind=kind,
            text=text,
            payload=payload,
        )
    return outgoing


# --- sending ------------------------------------------------------------------------


class Delivery:
    """Delivers ledger rows for one invocation: one event loop, one Bot, shared counts."""

    def __init__(self, *, settings: Settings, counts: JobCounts, deadline: Deadline, runner: asyncio.Runner) -> None:
        self.settings = settings
        self.counts = counts
        self.deadline = deadline
        self.runner = runner
        self._sender: TelegramSender | None = None
        self._outcomes: list[NotificationOutcome] = []
        self._blocked_chats: set[str] = set()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coroutine)

    async def close(self) -> None:
        if self._sender is not None:
            await self._sender.close()
            self._sender = None

    def _telegram(self) -> TelegramSender:
        if self._sender is None:
            self._sender = TelegramSender.from_settings(self.settings, self.deadline)
        return self._sender

    # --- queue records ---------------------------------------------------

    def deliver_record(self, record: SQSRecord) -> None:
        """BatchProcessor's record handler: raising fails this record alone (redelivered, then DLQ)."""
        context = {"sqs_message_id": record.message_id, "receive_count": record.attributes.approximate_receive_count}
        try:
            message = parse_queue_body(record.body)
        except MalformedMessageError:
            self.counts["malformed"] += 1
            log.error("malformed notify message", extra={**context, "body": (record.body or "")[:2000]})
            raise
        outgoing = messages_for(message, settings=self.settings)
        report = self.run(self.deliver(outgoing))
        log.info(
            "notify message delivered" if not report.unfinished else "notify message partly delivered",
            extra={**context, "dedupe_key": message.dedupe_key, "messages": report.messages, "sent": report.sent},
        )
        if report.unfinished:
            raise DeliveryIncompleteError(
                f"{report.unfinished} of {report.messages} messages for {message.dedupe_key} not delivered yet"
            )

    # --- ledger rows -----------------------------------------------------

    async def deliver(self, messages: Sequence[OutgoingMessage]) -> DeliveryReport:
        report = DeliveryReport(messages=len(messages))
        if not messages:
            return report
        with session_scope() as db_session:
            notification_service.record_pending(db_session=db_session, messages=messages)
            pending = notification_service.pending_for(
                db_session=db_session, dedupe_keys=[message.dedupe_key for message in messages]
            )
        self.counts["skipped"] += len(messages) - len(pending)
        if not pending:
            return report
        if not self.settings.telegram_enabled:
            self._skip_without_token(pending)
            return report

        claimed, in_flight = self._claim(pending)
        if in_flight:
            self.counts["in_flight"] += in_flight
            report.unfinished += in_flight
        by_chat: dict[str, list[PendingNotification]] = defaultdict(list)
        for row in claimed:
            by_chat[row.chat_id].append(row)
        sender = self._telegram()
        slots = asyncio.Semaphore(self.settings.telegram_send_concurrency)

        async def deliver_chat(rows: list[PendingNotification]) -> None:
            async with slots:
                for index, row in enumerate(rows):
                    result = await sender.send(row.chat_id, row.text)
                    self._note(row, result, report)
                    if result.status is not SendStatus.SENT:
                        # A message's later parts must not arrive without the earlier ones.
                        for later in rows[index + 1 :]:
                            self._note(row=later, result=_held_back(result), report=report)
                        return

        try:
            async with asyncio.TaskGroup() as group:
                for rows in by_chat.values():
                    group.create_task(deliver_chat(rows))
        finally:
            self._flush()
            self._release(claimed)
        return report

    def _skip_without_token(self, pending: Sequence[PendingNotification]) -> None:
        for row in pending:
            log.info(
                "TELEGRAM_BOT_TOKEN not set: would have sent",
                extra={"chat_id": row.chat_id, "dedupe_key": row.dedupe_key, "text": row.text},
            )
        outcomes = [
            NotificationOutcome(row.id, NotificationStatus.SKIPPED_NO_TOKEN, attempted=False, error="no bot token")
            for row in pending
        ]
        with session_scope() as db_session:
            notification_service.record_outcomes(
                db_session=db_session, outcomes=outcomes, max_attempts=self.settings.telegram_max_attempts
            )
        self.counts["skipped_no_token"] += len(pending)

    def _note(self, row: PendingNotification, result: SendResult, report: DeliveryReport) -> None:
        self.counts["throttled"] += result.throttled
        status = {
            SendStatus.SENT: NotificationStatus.SENT,
            SendStatus.BLOCKED: NotificationStatus.BLOCKED,
            SendStatus.FAILED: NotificationStatus.FAILED,
        }.get(result.status, NotificationStatus.PENDING)
        self.counts[result.status.value] += 1
        if result.status is SendStatus.SENT:
            report.sent += 1
        elif result.status is SendStatus.BLOCKED:
            self._blocked_chats.add(row.chat_id)
        elif result.status is SendStatus.RETRYABLE and row.attempts + 1 >= self.settings.telegram_max_attempts:
            self.counts["gave_up"] += 1  # record_outcomes marks it failed: nothing left to retry
        elif result.status in (SendStatus.RETRYABLE, SendStatus.DEFERRED):
            report.unfinished += 1
        if result.status is not SendStatus.SENT:
            log.warning(
                "telegram message not sent",
                extra={
                    "chat_id": row.chat_id,
                    "dedupe_key": row.dedupe_key,
                    "outcome": result.status.value,
                    "error": result.error,
                },
            )
        self._outcomes.append(
            NotificationOutcome(
                notification_id=row.id,
                status=status,
                attempted=result.attempted,
                error=result.error,
                telegram_message_id=result.message_id,
            )
        )
        if len(self._outcomes) >= OUTCOME_FLUSH_SIZE:
            self._flush()

    def _flush(self) -> None:
        outcomes, self._outcomes = self._outcomes, []
        blocked, self._blocked_chats = self._blocked_chats, set()
        if outcomes:
            with session_scope() as db_session:
                notification_service.record_outcomes(
                    db_session=db_session, outcomes=outcomes, max_attempts=self.settings.telegram_max_attempts
                )
        for chat_id in sorted(blocked):
            with session_scope() as db_session:
                users = notification_service.disable_chat(db_session=db_session, chat_id=chat_id)
            if users == 0 and chat_id == self.settings.telegram_broadcast_chat_id:
                log.error("broadcast chat blocked the bot; check TELEGRAM_BROADCAST_CHAT_ID", extra={"chat": chat_id})
            else:
                log.warning("chat blocked the bot: notifications disabled", extra={"chat_id": chat_id, "users": users})

    # --- claims: a row is sent by one invocation at a time -----------------

    def _claim_seconds(self) -> int:
        left = self.deadline.seconds_left()
        # Outlives this invocation (so a slow send is not doubled) but not the queue's next delivery.
        return 900 if math.isinf(left) else max(60, math.ceil(left) + 60)

    @staticmethod
    def _claim_key(row: PendingNotification) -> str:
        return f"{KEY_PREFIX}notify:claim:{row.id}"

    def _claim(self, rows: Sequence[PendingNotification]) -> tuple[list[PendingNotification], int]:
        pipeline = get_redis().pipeline(transaction=False)
        ttl = self._claim_seconds()
        for row in rows:
            pipeline.set(self._claim_key(row), "1", nx=True, ex=ttl)
        taken = pipeline.execute()
        claimed = [row for row, ok in zip(rows, taken, strict=True) if ok]
        return claimed, len(rows) - len(claimed)

    def _release(self, rows: Sequence[PendingNotification]) -> None:
        if rows:
            get_redis().delete(*(self._claim_key(row) for row in rows))


def _held_back(cause: SendResult) -> SendResult:
    if cause.status is SendStatus.BLOCKED:
        return SendResult(SendStatus.BLOCKED, error=cause.error)
    return SendResult(SendStatus.DEFERRED, error="an earlier part of this message was not delivered")


def _deadline(remaining_ms: Callable[[], int] | None, settings: Settings) -> Deadline:
    return Deadline(remaining_ms, margin_ms=settings.notify_deadline_margin_ms)


# --- entry points -------------------------------------------------------------------


def is_sqs_event(event: Mapping[str, Any]) -> bool:
    """An SQS batch; any other `Records` event (S3, SNS, …) is refused rather than taken for a schedule."""
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not records:
        return False
    sources = {record.get("eventSource") if isinstance(record, Mapping) else None for record in records}
    if sources != {"aws:sqs"}:
        raise InvalidEventError(f"notify takes SQS batches or schedules, not records from {sorted(map(str, sources))}")
    return True


def deliver_queue_batch(
    event: dict[str, Any], *, remaining_ms: Callable[[], int] | None = None, request_id: str | None = None
) -> dict[str, Any]:
    """Deliver an SQS batch; the response lists only the records to redeliver."""
    settings = get_settings()
    deadline = _deadline(remaining_ms, settings)
    request_id = request_id or uuid.uuid4().hex
    response: dict[str, Any] = {"batchItemFailures": []}

    def work(counts: JobCounts) -> dict[str, Any]:
        nonlocal response
        counts.update(dict.fromkeys(REPORTED_COUNTS, 0))
        # A private loop: a default Runner resets the thread's loop to None on exit, which breaks
        # Mangum's get_event_loop() wherever functions share a process (the local runner, tests).
        with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
            delivery = Delivery(settings=settings, counts=counts, deadline=deadline, runner=runner)
            try:
                processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
                response = dict(
                    process_partial_response(event=event, record_handler=delivery.deliver_record, processor=processor)
                )
            finally:
                runner.run(delivery.close())
        counts["records"] = len(event.get("Records", []))
        counts["records_failed"] = len(response.get("batchItemFailures", []))
        return {"batch_item_failures": counts["records_failed"]}

    result = run_job(
        function="notify",
        job="deliver",
        run_date=today_kst().isoformat(),
        work=work,
        request_id=request_id,
        lock_key=f"invocation:{request_id}",  # never contended: see the module docstring
    )
    if result.status is not JobStatus.SUCCEEDED:
        # Never report a batch as processed when it was not: the whole batch comes back.
        raise RuntimeError(f"notify batch not processed: job {result.status.value} ({result.error})")
    return response


def summary_messages(*, target_date: date, settings: Settings) -> list[OutgoingMessage]:
    with session_scope() as db_session:
        calls_by_recipient = notification_service.scored_calls_by_recipient(
            db_session=db_session, target_date=target_date
        )
        hit_rates = notification_service.model_hit_rates(
            db_session=db_session, target_date=target_date, window_days=SUMMARY_WINDOW_DAYS
        )
    outgoing: list[OutgoingMessage] = []
    for recipient, calls in calls_by_recipient.items():
        summary = formatting.DailySummary(
            target_date=target_date, calls=calls, hit_rates=hit_rates, window_days=SUMMARY_WINDOW_DAYS
        )
        text = formatting.format_daily_summary(summary, frontend_base_url=settings.frontend_base_url)
        outgoing += message_parts(
            dedupe_key=f"summary:{target_date.isoformat()}:{recipient.chat_id}",
            recipient=recipient,
            kind=NotificationKind.DAILY_SUMMARY,
            text=text,
            payload={"target_date": target_date.isoformat(), "calls": len(calls)},
        )
    return outgoing


def send_daily_summary(
    job: ScheduledJob, *, remaining_ms: Callable[[], int] | None = None, request_id: str | None = None
) -> JobResult:
    """Each subscriber's scored calls of the latest evaluated day ≤ `job.date`, once per chat.

    Messages not delivered in time stay pending and the job fails, so the scheduler's
    retry (or a re-run by hand) sends exactly those.
    """
    settings = get_settings()
    deadline = _deadline(remaining_ms, settings)

    def work(counts: JobCounts) -> dict[str, Any]:
        counts.update(dict.fromkeys(REPORTED_COUNTS, 0))
        with session_scope() as db_session:
            target_date = notification_service.latest_evaluated_date(db_session=db_session, on_or_before=job.date)
        if target_date is None:
            log.info("no evaluated predictions yet: no daily summary", extra={"date": job.date.isoformat()})
            return {"target_date": None}
        outgoing = summary_messages(target_date=target_date, settings=settings)
        counts["recipients"] = len({message.recipient.chat_id for message in outgoing})
        with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
            delivery = Delivery(settings=settings, counts=counts, deadline=deadline, runner=runner)
            try:
                report = runner.run(delivery.deliver(outgoing))
            finally:
                runner.run(delivery.close())
        if report.unfinished:
            raise DeliveryIncompleteError(
                f"{report.unfinished} of {report.messages} summary messages for {target_date} not delivered yet"
            )
        return {"target_date": target_date.isoformat()}

    return run_job(
        function="notify", job="daily_summary", run_date=job.date.isoformat(), work=work, request_id=request_id
    )
