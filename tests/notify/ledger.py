"""Reading what a delivery left behind: the notification rows and the batch's failed ids."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from shared.notifications.models import Notification


def notification_rows(db_session: Any) -> list[Notification]:
    db_session.expire_all()
    return list(db_session.scalars(select(Notification).order_by(Notification.id)))


def failed_message_ids(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]
