"""Queue delivery against the Telegram sandbox: who gets what, once, and what errors mean."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from shared.notifications.delivery import deliver_queue_batch
from shared.notifications.models import NotificationStatus
from shared.users.models import User
from tests.notify.ledger import failed_message_ids, notification_rows


def test_signal_goes_to_eligible_subscribers_once_with_escaped_korean_html(
    telegram: Any, seed: Callable[..., Any], sqs_event: Callable[..., Any], bodies: Any, db_session: Any
) -> None:
    seeded = seed()
    prediction_id = seeded.prediction_ids["005930:gpt-4o-v1"]
    event = sqs_event(bodies.signal(prediction_id))

    response = deliver_queue_batch(event)

    assert failed_message_ids(response) == []
    # alice (0.7 ≤ 0.82) and bob (0.5); not carol (0.95), unlinked, inactive or muted users.
    assert sorted(str(m["chat_id"]) for m in telegram.telegram_messages) == ["1001", "1002"]
    message = telegram.telegram_messages[0]
    assert message["parse_mode"] == "HTML"
    text = message["text"]
    assert "<b>삼성전자</b> (005930)" in text
    assert "▲ 상승" in text and "82.0%" in text and "gpt-4o-v1" in text
    assert "반도체 업황 개선 &lt;기대&gt; &amp; 외국인 순매수" in text
    assert f'<a href="https://stockinsight.example/predictions/{prediction_id}">' in text
    rows = notification_rows(db_session)
    assert {row.dedupe_key for row in rows} == {f"signal:{prediction_id}:1001", f"signal:{prediction_id}:1002"}
    assert all(row.status is NotificationStatus.SENT and row.telegram_message_id and row.sent_at for row in rows)
    assert all(row.attempts == 1 for row in rows)


def test_redelivered_message_is_not_sent_twice(
    telegram: Any, seed: Callable[..., Any], sqs_event: Callable[..., Any], bodies: Any, db_session: Any
) -> None:
    seeded = seed()
    body = bodies.signal(seeded.prediction_ids["005930:gpt-4o-v1"])
    deliver_queue_batch(sqs_event(body))
    first = len(telegram.telegram_messages)

    response = deliver_queue_batch(sqs_event(body))

    assert failed_message_ids(response) == []
    assert len(telegram.telegram_messages) == first == 2
    assert all(row.attempts == 1 for row in notification_rows(db_session))


def test_without_token_logs_and_records_skipped_no_token(
    seed: Callable[..., Any],
    sqs_event: Callable[..., Any],
    bodies: Any,
    db_session: Any,
    settings_env: Callable[..., Any],
    redis_client: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings_env(TELEGRAM_BOT_TOKEN="")
    seeded = seed()
    caplog.set_level("INFO", logger="shared.notifications")

    response = deliver_queue_batch(sqs_event(bodies.signal(seeded.prediction_ids["005930:gpt-4o-v1"])))

    assert failed_message_ids(response) == []
    rows = notification_rows(db_session)
    assert [row.status for row in rows] == [NotificationStatus.SKIPPED_NO_TOKEN] * 2
    assert any("would have sent" in record.getMessage() for record in caplog.records)


def test_poison_message_fails_alone(
    telegram: Any, seed: Callable[..., Any], sqs_event: Callable[..., Any], bodies: Any
) -> None:
    seeded = seed()
    event = sqs_event(
        bodies.signal(seeded.prediction_ids["005930:gpt-4o-v1"]),
        "{not json",
        {"kind": "signal", "prediction_id": "x"},
        bodies.alert(),
    )

    response = deliver_queue_batch(event)

    records = event["Records"]
    assert failed_message_ids(response) == [records[1]["messageId"], records[2]["messageId"]]
    assert len(telegram.telegram_messages) == 5  # signal: alice, bob; alert (no threshold): alice, bob, carol


def test_alert_goes_to_subscribers_once_per_stock_threshold_and_day(
    telegram: Any, seed: Callable[..., Any], sqs_event: Callable[..., Any], bodies: Any, db_session: Any
) -> None:
    seed()
    deliver_queue_batch(sqs_event(bodies.alert(), bodies.alert(price=79_000, change_rate=6.1)))
    # Alerts ignore min_probability: alice, bob, carol; a second crossing of that threshold that day: nothing.
    assert len(telegram.telegram_messages) == 3
    assert "▲ <b>+5.37%</b>" in telegram.telegram_messages[0]["text"]
    assert "78,500원" in telegram.telegram_messages[0]["text"]

    deliver_queue_batch(sqs_event(bodies.alert(threshold=10.0, change_rate=10.4), bodies.alert(day="2024-01-04")))
    assert len(telegram.telegram_messages) == 9
    assert {row.dedupe_key for row in notification_rows(db_session)} >= {
        "alert:005930:5:2024-01-03:1001",
        "alert:005930:10:2024-01-03:1001",
        "alert:005930:5:2024-01-04:1002",
    }


def test_broadcast_chat_gets_signals(
    telegram: Any,
    seed: Callable[..., Any],
    sqs_event: Callable[..., Any],
    bodies: Any,
    settings_env: Callable[..., Any],
) -> None:
    settings_env(TELEGRAM_BROADCAST_CHAT_ID="-1001234567890")
    seeded = seed()
    deliver_queue_batch(sqs_event(bodies.signal(seeded.prediction_ids["005930:gpt-4o-v1"])))
    assert sorted(str(m["chat_id"]) for m in telegram.telegram_messages) == ["-1001234567890", "1001", "1002"]


def _flood_control(telegram: Any, *, retry_after: int, times: int) -> None:
    """Telegram's 429 for the next `times` calls, as the Bot API words it."""
    telegram.inject_fault(
        "/bot",
        status=429,
        body={
            "ok": False,
            "error_code": 429,
            "description": f"Too Many Requests: retry after {retry_after}",
            "parameters": {"retry_after": retry_after},
        },
        times=times,
    )


def test_flood_control_waits_retry_after_then_sends(
    telegram: Any, seed: Callable[..., Any], sqs_event: Callable[..., Any], bodies: Any, db_session: Any
) -> None:
    seeded = seed()
    _flood_control(telegram, retry_after=1, times=1)

    response = deliver_queue_batch(
        sqs_event(bodies.signal(seeded.prediction_ids["005930:gpt-4o-v1"])), remaining_ms=lambda: 60_000
    )

    assert failed_message_ids(response) == []
    assert sorted(str(m["chat_id"]) for m in telegram.telegram_messages) == ["1001", "1002"]
    assert all(row.status is NotificationStatus.SENT for row in notification_rows(db_session))


def test_flood_control_past_the_deadline_hands_the_message_back(
    telegram: Any, seed: Callable[..., Any], sqs_event: Callable[..., Any], bodies: Any, db_session: Any
) -> None:
    seeded = seed()
    _flood_control(telegram, retry_after=30, times=2)
    event = sqs_event(bodies.signal(seeded.prediction_ids["005930:gpt-4o-v1"]))

    # 20 s left, 10 s kept back for bookkeeping: a 30 s wait does not fit.
    response = deliver_queue_batch(event, remaining_ms=lambda: 20_000)

    assert failed_message_ids(response) == [event["Records"][0]["messageId"]]
    rows = notification_rows(db_session)
    assert [row.status for row in rows] == [NotificationStatus.PENDING] * 2
    assert all(row.attempts == 0 and "retry after 30" in (row.last_error or "") for row in rows)

    # The redelivery (flood over) sends both.
    response = deliver_queue_batch(event, remaining_ms=lambda: 60_000)
    assert failed_message_ids(response) == []
    assert len(telegram.telegram_messages) == 2


def test_blocked_chat_disables_its_notifications(
    telegram: Any, seed: Callable[..., Any], sqs_event: Callable[..., Any], bodies: Any, db_session: Any
) -> None:
    seeded = seed(stock_codes=("005930",))
    telegram.inject_fault(
        "/bot",
        status=403,
        body={"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
        times=1,
    )
    for label in ("bob", "carol_picky"):  # alice alone gets the alert
        db_session.get(User, seeded.users[label]).telegram_chat_id = None
    db_session.commit()

    response = deliver_queue_batch(sqs_event(bodies.alert()))

    assert failed_message_ids(response) == []  # permanent: not redelivered
    rows = notification_rows(db_session)
    assert [(row.chat_id, row.status) for row in rows] == [("1001", NotificationStatus.BLOCKED)]
    assert rows[0].last_error == "Forbidden: bot was blocked by the user"
    db_session.expire_all()
    assert db_session.get(User, seeded.users["alice"]).notifications_enabled is False

    deliver_queue_batch(sqs_event(bodies.signal(seeded.prediction_ids["005930:gpt-4o-v1"])))
    assert telegram.telegram_messages == []


def test_bad_request_is_failed_for_good(
    telegram: Any, seed: Callable[..., Any], sqs_event: Callable[..., Any], bodies: Any, db_session: Any
) -> None:
    seeded = seed()
    telegram.inject_fault(
        "/bot",
        status=400,
        body={"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
        times=1,
    )
    body = bodies.signal(seeded.prediction_ids["005930:gpt-4o-v1"])

    response = deliver_queue_batch(sqs_event(body))
    again = deliver_queue_batch(sqs_event(body))

    assert failed_message_ids(response) == failed_message_ids(again) == []
    statuses = sorted(row.status.value for row in notification_rows(db_session))
    assert statuses == ["failed", "sent"]
    assert len(telegram.telegram_messages) == 1
    failed = next(row for row in notification_rows(db_session) if row.status is NotificationStatus.FAILED)
    assert failed.last_error == "BadRequest: Chat not found" and failed.attempts == 1


def test_timeout_is_retried_on_redelivery(
    telegram: Any,
    seed: Callable[..., Any],
    sqs_event: Callable[..., Any],
    bodies: Any,
    db_session: Any,
    settings_env: Callable[..., Any],
) -> None:
    settings_env(TELEGRAM_READ_TIMEOUT_SECONDS="0.3")
    seeded = seed()
    telegram.inject_fault("/bot", delay=0.6)  # answers (and delivers) after the read timeout
    event = sqs_event(bodies.signal(seeded.prediction_ids["005930:gpt-4o-v1"]))

    response = deliver_queue_batch(event)

    assert failed_message_ids(response) == [event["Records"][0]["messageId"]]
    pending = [row for row in notification_rows(db_session) if row.status is NotificationStatus.PENDING]
    assert len(pending) == 1 and pending[0].attempts == 1 and "TimedOut" in (pending[0].last_error or "")

    response = deliver_queue_batch(event)

    assert failed_message_ids(response) == []
    assert [row.status for row in notification_rows(db_session)] == [NotificationStatus.SENT] * 2
    # A read timeout is ambiguous: Telegram may have delivered it (the sandbox does, late). The
    # retry repeats that one message (at-least-once towards Telegram), never a confirmed one.
    deadline = time.monotonic() + 5
    while len(telegram.telegram_messages) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    chats = sorted(str(message["chat_id"]) for message in telegram.telegram_messages)
    assert chats == sorted(["1001", "1002", pending[0].chat_id])


def test_server_error_is_retried_until_max_attempts(
    telegram: Any,
    seed: Callable[..., Any],
    sqs_event: Callable[..., Any],
    bodies: Any,
    db_session: Any,
    settings_env: Callable[..., Any],
) -> None:
    settings_env(TELEGRAM_MAX_ATTEMPTS="2")
    seeded = seed(stock_codes=("005930",))
    for label in ("bob", "carol_picky"):  # alice alone gets the alert
        db_session.get(User, seeded.users[label]).telegram_chat_id = None
    db_session.commit()
    telegram.inject_fault(
        "/bot", status=502, body={"ok": False, "error_code": 502, "description": "Bad Gateway"}, times=2
    )
    event = sqs_event(bodies.alert())

    first = deliver_queue_batch(event)
    second = deliver_queue_batch(event)
    third = deliver_queue_batch(event)

    assert len(failed_message_ids(first)) == 1  # redelivered
    assert failed_message_ids(second) == failed_message_ids(third) == []  # given up after the second attempt
    rows = notification_rows(db_session)
    assert [(row.status, row.attempts) for row in rows] == [(NotificationStatus.FAILED, 2)]
    assert (rows[0].last_error or "").startswith("gave up after 2 attempts: NetworkError: Bad Gateway")
    assert telegram.telegram_messages == []
