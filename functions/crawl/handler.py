"""The crawl function: one scheduled job per event (listing, prices, quotes, news, embed)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.events import parse_scheduled_job
from shared.ingestion.jobs import CRAWL_JOBS, DEFAULT_JOB, run_crawl_job
from shared.observability import logger, metrics, tracer


@logger.inject_lambda_context(correlation_id_path="id")
@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    job = parse_scheduled_job(event, allowed_jobs=CRAWL_JOBS, default_job=DEFAULT_JOB)
    return run_crawl_job(job, request_id=context.aws_request_id).as_dict()
