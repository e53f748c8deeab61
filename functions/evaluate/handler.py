"""Evaluate: after prices land, score matured predictions and roll up model performance."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.evaluation.workflow import run_evaluation
from shared.events import parse_scheduled_job
from shared.observability import logger, metrics, tracer


@logger.inject_lambda_context(correlation_id_path="id", clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    job = parse_scheduled_job(event, allowed_jobs={"run"}, default_job="run")
    return run_evaluation(job, request_id=context.aws_request_id).as_dict()
