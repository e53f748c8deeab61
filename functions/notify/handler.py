"""notify: Telegram messages from the notify queue (SQS) and the daily summary (schedule)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.events import parse_scheduled_job
from shared.notifications import delivery
from shared.observability import logger, metrics, tracer


@logger.inject_lambda_context(correlation_id_path="Records[0].messageId || id", clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if delivery.is_sqs_event(event):
        return delivery.deliver_queue_batch(
            event, remaining_ms=context.get_remaining_time_in_millis, request_id=context.aws_request_id
        )
    job = parse_scheduled_job(event, allowed_jobs={"daily_summary"}, default_job="daily_summary")
    result = delivery.send_daily_summary(
        job, remaining_ms=context.get_remaining_time_in_millis, request_id=context.aws_request_id
    )
    return result.as_dict()
