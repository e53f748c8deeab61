"""Fan-out at scale: 1,000 subscribers × 20 signals, each message exactly once.

Slow by nature: 20,000 real HTTP sends through python-telegram-bot to the sandbox (in a
process of its own) take ~1–2 minutes on a 2-CPU machine — client and sandbox CPU, not
the limiter, which is set out of the way here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from shared.notifications.delivery import deliver_queue_batch
from shared.notifications.models import Notification, NotificationStatus

SUBSCRIBERS = 1_000
SIGNALS = 20


@pytest.mark.slow
def test_thousand_subscribers_twenty_signals_each_delivered_once(
    telegram_process: Any,
    seed: Callable[..., Any],
    sqs_event: Callable[..., Any],
    bodies: Any,
    db_session: Any,
    settings_env: Callable[..., Any],
) -> None:
    # Limits far above what the sandbox can take: this test is about exactly-once at volume;
    # pacing at Telegram's real limits is measured by benchmarks/notify_bench.py.
    settings_env(TELEGRAM_MESSAGES_PER_SECOND="100000", TELEGRAM_CHAT_MESSAGES_PER_SECOND="100000")
    seeded = seed(extra_subscribers=SUBSCRIBERS - 2)  # + alice and bob; carol's threshold (0.95) is not met
    prediction_id = seeded.prediction_ids["005930:gpt-4o-v1"]
    # Twenty high-signal calls on one stock: distinct predictions (ids), as predict sends them.
    signal_bodies = [bodies.signal(prediction_id + 10_000 + index) for index in range(SIGNALS)]
    recipients = SUBSCRIBERS

    # Two batches of ten, as the SQS event source (BatchSize 10) hands them over; the first
    # batch is delivered twice, as SQS may.
    first, second = sqs_event(*signal_bodies[:10]), sqs_event(*signal_bodies[10:])
    responses = [deliver_queue_batch(first), deliver_queue_batch(second), deliver_queue_batch(first)]

    assert all(response == {"batchItemFailures": []} for response in responses)
    messages = telegram_process.telegram_messages
    assert len(messages) == recipients * SIGNALS
    per_pair = Counter((str(message["chat_id"]), message["text"]) for message in messages)
    assert len(per_pair) == recipients * SIGNALS and set(per_pair.values()) == {1}
    assert len({chat for chat, _ in per_pair}) == recipients
    sent = db_session.scalar(
        select(func.count()).select_from(Notification).where(Notification.status == NotificationStatus.SENT)
    )
    assert sent == recipients * SIGNALS
