"""Notifications: who gets a message, and the `notifications` ledger that makes sends exactly-once.

Every outgoing message is a row keyed by its dedupe key, inserted (pending) BEFORE it is
sent and marked with its outcome after; a redelivered queue message finds its rows final
and sends nothing, and a row a crash left pending is sent by the next delivery.
Reads users/watchlists/predictions (owned by other domains); writes only `notifications`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import BigInteger, Integer, String, and_, case, cast, func, select, update, values
from sqlalchemy import column as sql_column
from sqlalchemy.dialects.postgresql import insert
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


def record_pending(*, db_session: Session, messages: Sequence[OutgoingMessage]) -> int:
    """Insert a pending row per message; existing dedupe keys are left as they are. Returns rows added."""
    if not messages:
        return 0
    statement = (
        insert(Notification)
        .values(
            [
                {
                    "dedupe_key": message.dedupe_key,
                    "user_id": message.recipient.user_id,
                    "chat_id": message.recipient.chat_id,
                    "kind": message.kind,
                    "payload": message.payload,
                    "text": message.text,
                    "status": NotificationStatus.PENDING,
                }
                for message in messages
            ]
        )
        .on_conflict_do_nothing(index_elements=[Notification.dedupe_key])
        .returning(Notification.id)
    )
    return len(db_session.execute(statement).all())


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
        .where(Notification.dedupe_key.in_(dedupe_keys), Notification.status == NotificationStatus.PENDING)
        .order_by(Notification.id)
    )
    return [PendingNotification(*row) for row in db_session.execute(query)]


def record_outcomes(*, db_session: Session, outcomes: Sequence[NotificationOutcome], max_attempts: int) -> None:
    """Write outcomes in one statement. A transient failure stays pending (so a redelivery
    retries it) until it has used `max_attempts`, then it is failed for good."""
    if not outcomes:
        return
    outcome_rows = values(
        sql_column("id", BigInteger),
        sql_column("status", String),
        sql_column("attempted", Integer),
        sql_column("error", String),
        sql_column("message_id", BigInteger),
        name="outcome",
    ).data(
        [
            (
                outcome.notification_id,
                outcome.status.value,
                1 if outcome.attempted else 0,
                outcome.error,
                outcome.telegram_message_id,
            )
            for outcome in outcomes
        ]
    )
    new_attempts = Notification.attempts + outcome_rows.c.attempted
    gave_up = and_(outcome_rows.c.status == NotificationStatus.PENDING.value, new_attempts >= max_attempts)
    statement = (
        update(Notification)
        .where(Notification.id == outcome_rows.c.id)
        .values(
            status=case((gave_up, NotificationStatus.FAILED.value), else_=outcome_rows.c.status),
            attempts=new_attempts,
            last_error=case(
                (gave_up, func.concat(f"gave up after {max_attempts} attempts: ", outcome_rows.c.error)),
                else_=outcome_rows.c.error,
            ),
            telegram_message_id=func.coalesce(
                cast(outcome_rows.c.message_id, BigInteger), Notification.telegram_message_id
            ),
            sent_at=case(
                (outcome_rows.c.status == NotificationStatus.SENT.value, func.now()), else_=Notification.sent_at
            ),
        )
        .execution_options(synchronize_session=False)
    )
    db_session.execute(statement)


def disable_chat(*, db_session: Session, chat_id: str) -> int:
    """The chat blocked the bot: its users stop getting notifications. Returns users changed."""
    try:
        from shared.users import service as user_service
    except ImportError:
        # TEMPORARY: shared.users.service builds pydantic schemas with EmailStr at import, and
        # email-validator is only in the api image. Until that import is lazy there (or the
        # notify extra gains email-validator), do the users service's UPDATE here.
        result = db_session.execute(
            update(User)
            .where(User.telegram_chat_id == chat_id, User.notifications_enabled.is_(True))
            .values(notifications_enabled=False)
        )
        db_session.commit()
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
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
