"""The crawl Lambda handler with stored EventBridge events (schedule Input and plain scheduled event)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from shared.events import InvalidEventError
from shared.ingestion import jobs
from shared.jobs.models import JobRun
from shared.sources.krx import parse_data_daily_prices, parse_data_listing
from shared.sources.records import DailyPriceRecord, ListingRecord, ParsedBatch
from shared.stocks.models import DailyPrice, Market

RECORDED_DAY = Path(__file__).parent.parent / "fixtures" / "krx" / "MDCSTAT01501_STK_20210122.json.gz"


class RecordedMarket:
    """Serves the recorded KOSPI day for whatever day is asked (the payload carries no date)."""

    name = "recorded"

    def __init__(self) -> None:
        with gzip.open(RECORDED_DAY, "rt", encoding="utf-8") as handle:
            self.payload = json.load(handle)
        self.days: list[date] = []

    def daily_prices(self, day: date) -> ParsedBatch[DailyPriceRecord]:
        self.days.append(day)
        return parse_data_daily_prices(self.payload, day=day, markets=(Market.KOSPI, Market.KOSDAQ))

    def listing(self, day: date) -> ParsedBatch[ListingRecord]:
        return parse_data_listing({"OutBlock_1": []}, markets=(Market.KOSPI,))

    def close(self) -> None:
        """Nothing to release: the fake holds no connection."""


@pytest.fixture
def market(monkeypatch: pytest.MonkeyPatch, database: str, redis_client: Any) -> RecordedMarket:
    source = RecordedMarket()
    monkeypatch.setattr(jobs, "open_krx_source", lambda markets: source)
    return source


@pytest.fixture
def handler() -> Callable[..., dict[str, Any]]:
    from functions.crawl.handler import lambda_handler

    return lambda_handler


def test_schedule_input_event_runs_the_named_job(
    market: RecordedMarket, handler: Callable[..., Any], load_event: Callable[..., Any], lambda_context: Any,
    db_session: Session,
) -> None:  # fmt: skip
    result = handler(load_event("crawl_prices"), lambda_context)
    assert result["status"] == "succeeded" and result["job"] == "prices" and result["run_date"] == "2024-01-05"
    assert result["counts"]["inserted"] == 917
    assert market.days == [date(2024, 1, 5)]
    run = db_session.get(JobRun, result["job_run_id"])
    assert run is not None and run.request_id == lambda_context.aws_request_id
    assert db_session.get(DailyPrice, ("005930", date(2024, 1, 5))) is not None


def test_plain_scheduled_event_runs_prices_for_its_kst_date(
    market: RecordedMarket, handler: Callable[..., Any], load_event: Callable[..., Any], lambda_context: Any
) -> None:
    result = handler(load_event("crawl_scheduled"), lambda_context)  # 09:30Z = 18:30 KST on 2024-01-05
    assert result["job"] == "prices" and result["run_date"] == "2024-01-05"
    assert market.days == [date(2024, 1, 5)]
    again = handler(load_event("crawl_scheduled"), lambda_context)
    assert again["counts"]["unchanged"] == 917 and again["counts"]["inserted"] == 0


def test_backfill_event_skips_the_weekends(
    market: RecordedMarket, handler: Callable[..., Any], load_event: Callable[..., Any], lambda_context: Any
) -> None:
    result = handler(load_event("crawl_prices_backfill"), lambda_context)  # 2024-01-02 .. 2024-01-12
    assert result["run_date"] == "2024-01-02..2024-01-12"
    assert result["counts"]["skipped_non_trading_day"] == 2 and len(market.days) == 9


def test_embed_event_with_nothing_pending(
    database: str, redis_client: Any, handler: Callable[..., Any], load_event: Callable[..., Any], lambda_context: Any
) -> None:
    result = handler(load_event("crawl_embed"), lambda_context)
    assert result["status"] == "succeeded" and result["pending_after"] == 0


def test_unknown_job_is_a_clear_error(
    database: str, handler: Callable[..., Any], load_event: Callable[..., Any], lambda_context: Any
) -> None:
    with pytest.raises(InvalidEventError, match="unknown job 'predict'"):
        handler(load_event("crawl_prices", job="predict"), lambda_context)


def test_listing_and_news_events_through_the_sandbox(
    sandbox: Any, handler: Callable[..., Any], load_event: Callable[..., Any], lambda_context: Any, db_session: Session
) -> None:
    listing = handler(load_event("crawl_listing"), lambda_context)
    assert listing["status"] == "succeeded" and listing["counts"]["inserted"] == 40
    news = handler(load_event("crawl_news"), lambda_context)
    assert news["status"] == "succeeded" and news["counts"]["inserted"] > 0
    assert news["stocks"] == news["of_stocks"]
