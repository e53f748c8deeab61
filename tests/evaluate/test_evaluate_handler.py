"""The evaluate function through its trigger's event shapes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from functions.evaluate.handler import lambda_handler
from shared.events import InvalidEventError


def test_schedule_input_event(
    seed_market: Callable[..., Any], redis_client: Any, lambda_context: Any, load_event: Callable[..., Any]
) -> None:
    seed_market()
    result = lambda_handler(load_event("evaluate_run"), lambda_context)
    assert result["status"] == "succeeded" and result["run_date"] == "2024-01-05"
    assert result["counts"]["evaluated"] == 0  # nothing was predicted


def test_plain_eventbridge_event_uses_its_time(
    seed_market: Callable[..., Any], redis_client: Any, lambda_context: Any, load_event: Callable[..., Any]
) -> None:
    seed_market()
    result = lambda_handler(load_event("eventbridge_scheduled", time="2024-01-05T07:40:00Z"), lambda_context)
    assert result["run_date"] == "2024-01-05"  # 16:40 KST


def test_weekend_is_skipped(database: str, redis_client: Any, lambda_context: Any) -> None:
    result = lambda_handler({"job": "run", "date": "2024-01-06"}, lambda_context)
    assert result["counts"] == {"skipped_non_trading_day": 1}


@pytest.mark.parametrize(
    ("event", "message"),
    [({"job": "daily_summary"}, "unknown job"), ({"job": "run", "date": "01/05/2024"}, "invalid scheduled event")],
)
def test_bad_events_are_clear_errors(event: dict[str, Any], message: str, lambda_context: Any) -> None:
    with pytest.raises(InvalidEventError, match=message):
        lambda_handler(event, lambda_context)
