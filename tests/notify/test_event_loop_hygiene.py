"""Functions share one process locally: notify must leave the thread's event loop as it found it."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable
from typing import Any

from functions.notify.handler import lambda_handler


def test_notify_does_not_unset_the_threads_event_loop(
    database: str, redis_client: Any, lambda_context: Any, load_event: Callable[..., Any]
) -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        lambda_handler(load_event("notify_daily_summary"), lambda_context)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            assert asyncio.get_event_loop() is loop  # what Mangum calls next in the same process
    finally:
        asyncio.set_event_loop(None)
        loop.close()
