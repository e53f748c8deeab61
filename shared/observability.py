"""Powertools Logger, Tracer and Metrics, created once per container.

Structured JSON logs carry a correlation id (the API request id, the SQS message id or the
scheduled event id); metrics go out as CloudWatch EMF. Tracing is a no-op outside Lambda.
Library modules log through stdlib `logging.getLogger(__name__)`; their records reach the
same JSON handler (and correlation id) because the `shared` logger shares its config.
"""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from shared.config import get_settings

_settings = get_settings()

logger = Logger(service=_settings.service_name)
tracer = Tracer(service=_settings.service_name)
metrics = Metrics(namespace="StockInsight", service=_settings.service_name)

logging.getLogger("shared")
copy_config_to_registered_loggers(source_logger=logger, include={"shared"})
