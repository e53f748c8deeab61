"""Powertools Logger, Tracer and Metrics, created once per container.

Structured JSON logs carry a correlation id (the API request id, the SQS message id or the
scheduled event id); metrics go out as CloudWatch EMF. Tracing is a no-op outside Lambda
(or with POWERTOOLS_TRACE_DISABLED): then the Tracer gets a provider that records nothing,
so the X-Ray SDK (and the botocore it pulls in, ~0.2 s) is never imported at cold start.
Library modules log through stdlib `logging.getLogger(__name__)`; their records reach the
same JSON handler (and correlation id) because the `shared` logger shares its config.
"""

from __future__ import annotations

import logging
import numbers
import traceback
from collections.abc import AsyncGenerator, Generator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

from shared.config import get_settings


class _UnrecordedSegment(BaseSegment):
    """A segment nobody will see: tracing is off in this process."""

    def close(self, end_time: int | None = None) -> None:
        return None

    def add_subsegment(self, subsegment: Any) -> None:
        return None

    def remove_subsegment(self, subsegment: Any) -> None:
        return None

    def put_annotation(self, key: str, value: str | numbers.Number | bool) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        return None

    def add_exception(
        self, exception: BaseException, stack: list[traceback.StackSummary], remote: bool = False
    ) -> None:
        return None


class DisabledTracingProvider(BaseProvider):
    """Stands in for the X-Ray recorder where Powertools would disable it anyway."""

    @contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Generator[BaseSegment, None, None]:
        yield _UnrecordedSegment()

    @asynccontextmanager
    async def in_subsegment_async(self, name: str | None = None, **kwargs: Any) -> AsyncGenerator[BaseSegment, None]:
        yield _UnrecordedSegment()

    def put_annotation(self, key: str, value: str | numbers.Number | bool) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        return None

    def patch(self, modules: Sequence[str]) -> None:
        return None

    def patch_all(self) -> None:
        return None


def _tracer(service: str) -> Tracer:
    if Tracer._is_tracer_disabled():
        return Tracer(service=service, disabled=True, provider=DisabledTracingProvider())
    return Tracer(service=service)


_settings = get_settings()

logger = Logger(service=_settings.service_name)
tracer = _tracer(_settings.service_name)
metrics = Metrics(namespace="StockInsight", service=_settings.service_name)

logging.getLogger("shared")
copy_config_to_registered_loggers(source_logger=logger, include={"shared"})
