"""Delivery when things go wrong half-way: crashes, duplicates in flight, deadlines, bad tokens."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import select

from shared.events import ScheduledJob
from shared.notifications.delivery import deliver_queue_batch, send_daily_summary
from shared.notifications.models import Notification, NotificationKind, NotificationStatus
from tests.notify.ledger import failed_message_ids, notification_rows


def test_a_row_left_pending_by_a_crash_is_sent_by_the_redelivery(
    telegram: Any, seed: Callable[..., Any], sqs_event: Callable[..., Any], bodies: Any, db_session: Any
) -> None:
    seeded = seed()
    prediction_id = seeded.prediction_ids["005930:gpt-4o-v1"]
    # The previous invocation recorded alice's row, sent bob's, then died before sending alice's.
    db_session.add_all(
        [
            Notification(
                dedupe_key=f"signal:{prediction_id}:1001",
                chat_id="1001",
                kind=NotificationKind.SIGNAL,
                text="<b>stored text</b>",
                status=NotificationStatus.PENDING,
            ),
            Notification(
                dedupe_key=f"signal:{prediction_id}:1002",
                chat_id="1002",
                kind=NotificationKind.SIGNAL,
                text="<b>stored text</b>",
                status=NotificationStatus.SENT,
                attempts=1,
            ),
        ]
    )
    db_session.commit()

    response = deliver_queue_batch(sqs_event(bodies.signal(prediction_id)))

    assert failed_message_ids(response) == []
    assert [(str(m["chat_id"]), m["text"]) for m in telegram.telegram_messages] == [("1001", "<b>stored text</b>")]
    assert [row.status for row in notification_rows(db_session)] == [NotificationStatus.SENT] * 2


def test_a_message_in_flight_elsewhere_is_not_sent_again_but_comes_back(
    telegram: Any,
    seed: Callable[..., Any],
    sqs_event: Callable[..., Any],
    bodies: Any,
    db_session: Any,
    redis_client: Any,
) -> None:
    seeded = seed()
    event = sqs_event(bodies.signal(seeded.prediction_ids["005930:gpt-4o-v1"]))
    # Record the rows as another invocation would, and hold a claim on alice's like it does.
    deliver_queue_batch(event, remaining_ms=lambda: 0)  # no time to send: rows pending, unclaimed
    alice = next(row for row in notification_rows(db_session) if row.chat_id == "1001")
    redis_client.set(f"si:notify:claim:{alice.id}", "1", ex=60)

    response = deliver_queue_batch(event)

    assert failed_message_ids(response) == [event["Records"][0]["messageId"]]  # checked again later
    assert [str(m["chat_id"]) for m in telegram.telegram_messages] == ["1002"]

    redis_client.delete(f"si:notify:claim:{alice.id}")  # the other invocation died
    assert failed_message_ids(deliver_queue_batch(event)) == []
    assert sorted(str(m["chat_id"]) for m in telegram.telegram_messages) == ["1001", "1002"]


def test_running_out_of_time_hands_the_rest_back(
    telegram: Any,
    seed: Callable[..., Any],
    sqs_event: Callable[..., Any],
    bodies: Any,
    db_session: Any,
    settings_env: Callable[..., Any],
) -> None:
    settings_env(TELEGRAM_SEND_CONCURRENCY="1")
    seeded = seed(extra_subscribers=8)
    clock = {"remaining": 60_000}

    def remaining_ms() -> int:
        # Each look at the clock costs a second: after four sends the margin is reached.
        clock["remaining"] -= 1_000
        return clock["remaining"]

    event = sqs_event(bodies.signal(seeded.prediction_ids["005930:gpt-4o-v1"]))
    settings_env(NOTIFY_DEADLINE_MARGIN_MS="50000")

    response = deliver_queue_batch(event, remaining_ms=remaining_ms)

    assert failed_message_ids(response) == [event["Records"][0]["messageId"]]
    sent_first = len(telegram.telegram_messages)
    assert 0 < sent_first < 10
    statuses = [row.status for row in notification_rows(db_session)]
    assert statuses.count(NotificationStatus.SENT) == sent_first
    assert statuses.count(NotificationStatus.PENDING) == 10 - sent_first

    assert failed_message_ids(deliver_queue_batch(event)) == []
    chats = [str(m["chat_id"]) for m in telegram.telegram_messages]
    assert len(chats) == len(set(chats)) == 10


def test_a_rejected_token_stops_sending_and_keeps_everything(
    telegram: Any,
    seed: Callable[..., Any],
    sqs_event: Callable[..., Any],
    bodies: Any,
    db_session: Any,
    settings_env: Callable[..., Any],
) -> None:
    settings_env(TELEGRAM_BOT_TOKEN="999:wrong-token", TELEGRAM_SEND_CONCURRENCY="1")
    seeded = seed()
    event = sqs_event(bodies.signal(seeded.prediction_ids["005930:gpt-4o-v1"]), bodies.alert())

    response = deliver_queue_batch(event)

    assert sorted(failed_message_ids(response)) == sorted(record["messageId"] for record in event["Records"])
    assert telegram.telegram_messages == []
    assert len(telegram.requests) == 1  # halted after the first refusal
    assert {row.status for row in notification_rows(db_session)} == {NotificationStatus.PENDING}


def test_blocked_broadcast_chat_is_recorded(
    telegram: Any,
    seed: Callable[..., Any],
    sqs_event: Callable[..., Any],
    bodies: Any,
    db_session: Any,
    settings_env: Callable[..., Any],
) -> None:
    settings_env(TELEGRAM_BROADCAST_CHAT_ID="1009")  # the sandbox's blocked chat
    seeded = seed()

    response = deliver_queue_batch(sqs_event(bodies.signal(seeded.prediction_ids["005930:gpt-4o-v1"])))

    assert failed_message_ids(response) == []
    by_chat = {row.chat_id: row for row in notification_rows(db_session)}
    assert by_chat["1009"].status is NotificationStatus.BLOCKED and by_chat["1009"].user_id is None
    assert by_chat["1001"].status is NotificationStatus.SENT


def test_a_long_summary_goes_out_in_parts_telegram_accepts(
    telegram: Any, db_session: Any, score: Callable[..., None]
) -> None:
    from shared.predictions.models import Direction, ModelConfig, ModelKind, Prediction
    from shared.stocks.models import Market, Stock
    from shared.users.models import User, WatchlistItem

    user = User(email="whale@example.com", password_hash="x", telegram_chat_id="4242")
    model = ModelConfig(name="gpt-4o-v1", kind=ModelKind.LLM, provider="openai", model_id="gpt-4o")
    db_session.add_all([user, model])
    db_session.flush()
    for index in range(120):
        code = f"{100000 + index}"
        db_session.add(Stock(code=code, name=f"긴 이름의 종목 <{index}> & 우선주", market=Market.KOSDAQ))
        db_session.flush()
        db_session.add(WatchlistItem(user_id=user.id, stock_code=code))
        db_session.add(
            Prediction(
                stock_code=code,
                model_config_id=model.id,
                as_of_date=date(2024, 1, 2),
                target_date=date(2024, 1, 3),
                direction=Direction.UP,
                probability=0.7,
            )
        )
    db_session.commit()
    score(date(2024, 1, 3), wrong_codes=tuple(f"{100000 + index}" for index in range(0, 120, 3)))

    result = send_daily_summary(ScheduledJob(job="daily_summary", date=date(2024, 1, 3)))

    assert result.counts["sent"] >= 2 and result.counts["failed"] == 0
    rows = notification_rows(db_session)
    assert [row.dedupe_key for row in rows] == ["summary:2024-01-03:4242"] + [
        f"summary:2024-01-03:4242#{part}" for part in range(2, len(rows) + 1)
    ]
    texts = [message["text"] for message in telegram.telegram_messages]
    assert len(texts) == len(rows) and all(len(text) <= 4096 for text in texts)
    assert "관심 종목 예측 120건 중 80건 적중" in texts[0] and "모델 적중률" in texts[-1]


def test_a_summary_run_out_of_time_fails_and_its_retry_sends_only_the_rest(
    telegram: Any,
    seed: Callable[..., Any],
    score: Callable[..., None],
    db_session: Any,
    settings_env: Callable[..., Any],
) -> None:
    import pytest

    from shared.jobs.models import JobRun, JobStatus
    from shared.notifications.delivery import DeliveryIncompleteError

    settings_env(TELEGRAM_SEND_CONCURRENCY="1", NOTIFY_DEADLINE_MARGIN_MS="0")
    seed()
    score(date(2024, 1, 3))
    job = ScheduledJob(job="daily_summary", date=date(2024, 1, 3))
    budget = iter([10_000, 10_000, 0, 0, 0, 0, 0, 0, 0, 0])  # time for the first summary only

    with pytest.raises(DeliveryIncompleteError, match="2 of 3 summary messages"):
        send_daily_summary(job, remaining_ms=lambda: next(budget, 0))

    assert len(telegram.telegram_messages) == 1
    db_session.expire_all()
    assert db_session.scalars(select(JobRun.status)).all() == [JobStatus.FAILED]

    result = send_daily_summary(job)  # the scheduler's retry

    assert result.counts["sent"] == 2 and result.counts["skipped"] == 1
    chats = sorted(str(message["chat_id"]) for message in telegram.telegram_messages)
    assert chats == ["1001", "1002", "1003"]
