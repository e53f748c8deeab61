"""Predict: the scheduled run fans work out to the predict queue; queue batches are predicted here."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.events import parse_scheduled_job
from shared.observability import logger, metrics, tracer
from shared.predictions.workflow import consume_predict_batch, schedule_predictions


@logger.inject_lambda_context(correlation_id_path="Records[0].messageId || id", clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("Records"):
        return consume_predict_batch(event, context)
    job = parse_scheduled_job(event, allowed_jobs={"run"}, default_job="run")
    return schedule_predictions(job, request_id=context.aws_request_id).as_dict()
