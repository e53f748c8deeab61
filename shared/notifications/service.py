"""Notifications: who gets a message, and the `notifications` ledger that makes sends exactly-once.

Every outgoing message is a row keyed by its dedupe key, inserted (pending) BEFORE it is
sent and marked with its outcome after; a redelivered queue message finds its rows final
and sends nothing, and a row a crash left pending is sent by the next delivery.
Reads users/watchlists/predictions (owned by other domains); writes only `notifications`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import String, case, cast, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from shared.evaluation.models import DailyPerformance, Evaluation
from shared.notifications.formatting import ModelHitRate, ScoredCall
from shared.notifications.models import Notification, NotificationKind, NotificationStatus
from shared.predictions.models import ModelConfig, Prediction, PredictionStatus
from shared.stocks.models import Stock
from shared.users.models import User, WatchlistItem

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Recipient:
    chat_id: str
    user_id: int | None  # None for the ops/broadcast chat


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    dedupe_key: str
    recipient: Recipient
    kind: NotificationKind
    text: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PendingNotification:
    """A ledger row still to be delivered (new, or left pending by a crash or a transient error)."""

    id: int
    dedupe_key: str
    chat_id: str
    user_id: int | None
    text: str
    attempts: int


@dataclass(frozen=True, slots=True)
class NotificationOutcome:
    """What happened to one row; `attempted` says whether it counts towards max attempts."""

    notification_id: int
    status: NotificationStatus
    attempted: bool
    error: str | None = None
    telegram_message_id: int | None = None


# --- recipients -----------------------------------------------------------


def _subscribers_of(stock_code: str) -> Any:
    return (
        select(User.telegram_chat_id, User.id)
        .join(WatchlistItem, WatchlistItem.user_id == User.id)
        .where(
            WatchlistItem.stock_code == stock_code,
            User.active.is_(True),
            User.notifications_enabled.is_(True),
            User.telegram_chat_id.is_not(None),
            User.telegram_chat_id != "",
        )
        .order_by(User.id)
    )


def _unique_by_chat(rows: Iterable[tuple[str, int | None]]) -> list[Recipient]:
    """Two accounts linked to one chat get one message, not two."""
    seen: dict[str, Recipient] = {}
    for chat_id, user_id in rows:
        seen.setdefault(chat_id, Recipient(chat_id=chat_id, user_id=user_id))
    return list(seen.values())


def signal_recipients(
    *, db_session: Session, stock_code: str, probability: float, broadcast_chat_id: str | None
) -> list[Recipient]:
    """Linked, active subscribers whose threshold the call meets, then the ops/broadcast chat."""
    query = _subscribers_of(stock_code).where(User.min_probability <= probability)
    rows: list[tuple[str, int | None]] = [(row[0], row[1]) for row in db_session.execute(query)]
    if broadcast_chat_id:
        rows.append((broadcast_chat_id, None))
    return _unique_by_chat(rows)


def alert_recipients(*, db_session: Session, stock_code: str) -> list[Recipient]:
    return _unique_by_chat((row[0], row[1]) for row in db_session.execute(_subscribers_of(stock_code)))


# --- the ledger -------------------------------------------------------------


# Set-based writes through arrays: one statement, compiled once, whatever the row count
# (a multi-row VALUES of 1,000 recipients costs ~0.7 s to build and bind with pg8000).
_INSERT_PENDING = text(
    """
    INSERT INTO notifications (dedupe_key, user_id, chat_id, kind, payload, text, status)
    SELECT message.dedupe_key, message.user_id, message.chat_id, message.kind,
           CAST(message.payload AS jsonb), message.text, 'pending'
    FROM unnest(CAST(:dedupe_keys AS text[]), CAST(:user_ids AS integer[]), CAST(:chat_ids AS text[]),
                CAST(:kinds AS text[]), CAST(:payloads AS text[]), CAST(:texts AS text[]))
         AS message(dedupe_key, user_id, chat_id, kind, payload, text)
    ON CONFLICT (dedupe_key) DO NOTHING
    """
)

# A transient failure (outcome 'pending', attempted) that used the last attempt is given up.
_RECORD_OUTCOMES = text(
    """
    UPDATE notifications AS n
    SET status = CASE WHEN o.status = 'pending' AND n.attempts + o.attempted >= :max_attempts
                      THEN 'failed' ELSE o.status END,
        attempts = n.attempts + o.attempted,
        last_error = CASE WHEN o.status = 'pending' AND n.attempts + o.attempted >= :max_attempts
                          THEN 'gave up after ' || :max_attempts || ' attempts: ' || o.error
                          ELSE o.error END,
        telegram_message_id = COALESCE(o.message_id, n.telegram_message_id),
        sent_at = CASE WHEN o.status = 'sent' THEN now() ELSE n.sent_at END
    FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS text[]), CAST(:attempted AS integer[]),
                CAST(:errors AS text[]), CAST(:message_ids AS bigint[]))
         AS o(id, status, attempted, error, message_id)
    WHERE n.id = o.id
    """
)


def record_pending(*, db_session: Session, messages: Sequence[OutgoingMessage]) -> int:
    """Insert a pending row per message; existing dedupe keys are left as they are. Returns rows added."""
    if not messages:
        return 0
    result = db_session.execute(
        _INSERT_PENDING,
        {
            "dedupe_keys": [message.dedupe_key for message in messages],
            "user_ids": [message.recipient.user_id for message in messages],
            "chat_ids": [message.recipient.chat_id for message in messages],
            "kinds": [message.kind.value for message in messages],
            "payloads": [json.dumps(message.payload, ensure_ascii=False, default=str) for message in messages],
            "texts": [message.text for message in messages],
        },
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def pending_for(*, db_session: Session, dedupe_keys: Sequence[str]) -> list[PendingNotification]:
    """The rows among `dedupe_keys` still to deliver, in creation order (message parts in order)."""
    if not dedupe_keys:
        return []
    query = (
        select(
            Notification.id,
            Notification.dedupe_key,
            Notification.chat_id,
            Notification.user_id,
            Notification.text,
            Notification.attempts,
        )
        .where(
            Notification.dedupe_key == func.any(cast(list(dedupe_keys), ARRAY(String))),
            Notification.status == NotificationStatus.PENDING,
        )
        .order_by(Notification.id)
    )
    return [PendingNotification(*row) for row in db_session.execute(query)]


def record_outcomes(*, db_session: Session, outcomes: Sequence[NotificationOutcome], max_attempts: int) -> None:
    """Write outcomes in one statement. A transient failure stays pending (so a redelivery
    retries it) until it has used `max_attempts`, then it is failed for good."""
    if not outcomes:
        return
    db_session.execute(
        _RECORD_OUTCOMES,
        {
            "ids": [outcome.notification_id for outcome in outcomes],
            "statuses": [outcome.status.value for outcome in outcomes],
            "attempted": [1 if outcome.attempted else 0 for outcome in outcomes],
            "errors": [outcome.error for outcome in outcomes],
            "message_ids": [outcome.telegram_message_id for outcome in outcomes],
            "max_attempts": max_attempts,
        },
    )


def disable_chat(*, db_session: Session, chat_id: str) -> int:
    """The chat blocked the bot: its users stop getting notifications. Returns users changed."""
    from shared.users import service as user_service

    return user_service.disable_telegram_notifications(db_session=db_session, chat_id=chat_id)


def counts_by_status(*, db_session: Session, dedupe_key_prefix: str | None = None) -> dict[str, int]:
    """Ledger totals (ops and tests): status -> rows."""
    query = select(Notification.status, func.count()).group_by(Notification.status)
    if dedupe_key_prefix is not None:
        query = query.where(Notification.dedupe_key.startswith(dedupe_key_prefix, autoescape=True))
    return {str(status): int(count) for status, count in db_session.execute(query)}


# --- the daily summary --------------------------------------------------------


def latest_evaluated_date(*, db_session: Session, on_or_before: date) -> date | None:
    query = (
        select(func.max(Prediction.target_date))
        .join(Evaluation, Evaluation.prediction_id == Prediction.id)
        .where(Prediction.target_date <= on_or_before)
    )
    return db_session.scalar(query)


def scored_calls_by_recipient(*, db_session: Session, target_date: date) -> dict[Recipient, list[ScoredCall]]:
    """For every linked, active subscriber: the evaluated calls on their watchlist for the day."""
    query = (
        select(
            User.telegram_chat_id,
            User.id,
            Stock.code,
            Stock.name,
            ModelConfig.name,
            Prediction.direction,
            Prediction.probability,
            Evaluation.actual_return,
            Evaluation.correct,
        )
        .join(WatchlistItem, WatchlistItem.user_id == User.id)
        .join(Stock, Stock.code == WatchlistItem.stock_code)
        .join(Prediction, Prediction.stock_code == WatchlistItem.stock_code)
        .join(Evaluation, Evaluation.prediction_id == Prediction.id)
        .join(ModelConfig, ModelConfig.id == Prediction.model_config_id)
        .where(
            Prediction.target_date == target_date,
            Prediction.status == PredictionStatus.OK,
            User.active.is_(True),
            User.notifications_enabled.is_(True),
            User.telegram_chat_id.is_not(None),
            User.telegram_chat_id != "",
        )
        .order_by(User.id, Stock.code, ModelConfig.name)
    )
    by_chat: dict[str, tuple[Recipient, dict[tuple[str, str], ScoredCall]]] = {}
    for row in db_session.execute(query):
        chat_id, user_id, code, name, model_name, direction, probability, actual_return, correct = row
        if not chat_id:
            continue
        _, calls = by_chat.setdefault(chat_id, (Recipient(chat_id=chat_id, user_id=user_id), {}))
        calls[(code, model_name)] = ScoredCall(
            stock_code=code,
            stock_name=name,
            model_name=model_name,
            direction=str(direction.value if direction is not None else "flat"),
            probability=probability,
            actual_return=actual_return,
            correct=correct,
        )
    return {recipient: list(calls.values()) for recipient, calls in by_chat.values()}


def model_hit_rates(*, db_session: Session, target_date: date, window_days: int) -> list[ModelHitRate]:
    """Each model's hit rate on the day and over the trailing window (overall rows: no A/B variant)."""
    window_start = target_date - timedelta(days=window_days - 1)
    on_day = DailyPerformance.date == target_date
    query = (
        select(
            ModelConfig.name,
            func.coalesce(func.sum(case((on_day, DailyPerformance.n), else_=0)), 0),
            func.coalesce(func.sum(case((on_day, DailyPerformance.hits), else_=0)), 0),
            func.coalesce(func.sum(DailyPerformance.n), 0),
            func.coalesce(func.sum(DailyPerformance.hits), 0),
        )
        .join(ModelConfig, ModelConfig.id == DailyPerformance.model_config_id)
        .where(
            DailyPerformance.ab_variant_id.is_(None),
            DailyPerformance.date.between(window_start, target_date),
        )
        .group_by(ModelConfig.name)
        .having(func.sum(case((on_day, DailyPerformance.n), else_=0)) > 0)
        .order_by(ModelConfig.name)
    )
    return [
        ModelHitRate(model_name=name, n=int(n), hits=int(hits), window_n=int(window_n), window_hits=int(window_hits))
        for name, n, hits, window_n, window_hits in db_session.execute(query)
    ]
