"""Sending to the SQS queues that connect the functions (predict fan-out, notifications).

Locally the same boto3 calls go to moto's server through `AWS_ENDPOINT_URL`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from shared.config import get_settings

log = logging.getLogger(__name__)

SQS_BATCH_LIMIT = 10


class QueueSendError(RuntimeError):
    """Some messages could not be enqueued; the caller must not treat them as sent."""


@lru_cache(maxsize=1)
def _sqs_client() -> Any:
    import boto3

    settings = get_settings()
    return boto3.client("sqs", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url)


def reset_queue_client() -> None:
    _sqs_client.cache_clear()


def send_json_messages(queue_url: str, bodies: Sequence[dict[str, Any]]) -> int:
    """Enqueue JSON bodies in batches of ten; raises if any message was refused."""
    client = _sqs_client()
    sent = 0
    for start in range(0, len(bodies), SQS_BATCH_LIMIT):
        chunk = bodies[start : start + SQS_BATCH_LIMIT]
        entries = [
            {"Id": str(index), "MessageBody": json.dumps(body, ensure_ascii=False, default=str)}
            for index, body in enumerate(chunk)
        ]
        response = client.send_message_batch(QueueUrl=queue_url, Entries=entries)
        failed = response.get("Failed") or []
        if failed:
            raise QueueSendError(f"{len(failed)} of {len(entries)} messages refused by {queue_url}: {failed[:3]}")
        sent += len(entries)
    log.info("enqueued messages", extra={"queue_url": queue_url, "count": sent})
    return sent
