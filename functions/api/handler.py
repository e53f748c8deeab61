"""The api function: the FastAPI app behind API Gateway HTTP API (payload v2), via Mangum."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from shared.api.app import create_app
from shared.observability import logger, metrics, tracer

app = create_app()
handler = Mangum(app, lifespan="off")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Powertools' and Mangum's LambdaContext types describe the same runtime object.
    return handler(event, context)  # type: ignore[arg-type,no-any-return]
