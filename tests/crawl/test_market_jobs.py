"""Listing and prices jobs against real Postgres/Redis, with KRX replaced by recorded payloads.

The sandbox-backed tests (test_crawl_sandbox.py) cover the wire; these pin the storage
rules: idempotent upserts, unpublished days, malformed rows, non-trading days, deactivation.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.ingestion import jobs
from shared.jobs.models import JobRun, JobStatus
from shared.sources.krx import parse_data_daily_prices, parse_data_listing
from shared.sources.records import DailyPriceRecord, ListingRecord, ParsedBatch
from shared.stocks import service as stock_service
from shared.stocks.models import DailyPrice, Market, Stock

DAY = date(2021, 1, 4)


class RecordedKrx:
    """A KrxSource serving recorded payloads (optionally edited by the test)."""

    name = "recorded"

    def __init__(self, prices: dict[date, Any], listing: Any, markets: tuple[Market, ...]) -> None:
        self.prices = prices
        self.listing_payload = listing
        self.markets = markets
        self.calls: list[date] = []

    def daily_prices(self, day: date) -> ParsedBatch[DailyPriceRecord]:
        self.calls.append(day)
        return parse_data_daily_prices(self.prices[day], day=day, markets=self.markets)

    def listing(self, day: date) -> ParsedBatch[ListingRecord]:
        return parse_data_listing(self.listing_payload, markets=self.markets)

    def close(self) -> None:
        """Nothing to release: the fake holds no connection."""


@pytest.fixture
def recorded_krx(
    krx_payload: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch, database: str, redis_client: Any
) -> RecordedKrx:
    source = RecordedKrx(
        prices={DAY: krx_payload("MDCSTAT01501_ALL_20210104")},
        listing=krx_payload("MDCSTAT01901_ALL"),
        markets=(Market.KOSPI, Market.KOSDAQ),
    )
    monkeypatch.setattr(jobs, "open_krx_source", lambda markets: source)
    return source


def _count(db_session: Session, model: type[Any]) -> int:
    return int(db_session.scalar(select(func.count()).select_from(model)) or 0)


def test_prices_day_is_stored_and_a_rerun_changes_nothing(recorded_krx: RecordedKrx, db_session: Session) -> None:
    first = jobs.run_prices(day=DAY)
    assert first.status is JobStatus.SUCCEEDED
    assert first.counts["inserted"] == 2388 and first.counts["stocks_created"] == 2388
    assert first.counts["fetched"] == 2388
    samsung = db_session.get(DailyPrice, ("005930", DAY))
    assert samsung is not None and (samsung.close, samsung.volume) == (83_000, 38_655_276)
    stock = db_session.get(Stock, "005930")
    assert stock is not None and (stock.name, stock.market, stock.isin) == ("삼성전자", Market.KOSPI, "KR7005930003")

    second = jobs.run_prices(day=DAY)
    assert second.counts["unchanged"] == 2388
    assert second.counts["inserted"] == 0 and second.counts["updated"] == 0
    assert second.counts.get("stocks_created", 0) == 0
    assert _count(db_session, DailyPrice) == 2388


def test_a_corrected_bar_is_updated(recorded_krx: RecordedKrx, db_session: Session) -> None:
    jobs.run_prices(day=DAY)
    corrected = copy.deepcopy(recorded_krx.prices[DAY])
    row = next(r for r in corrected["OutBlock_1"] if r["ISU_SRT_CD"] == "005930")
    row["ACC_TRDVOL"] = "38,655,277"
    recorded_krx.prices[DAY] = corrected
    result = jobs.run_prices(day=DAY)
    assert result.counts["updated"] == 1 and result.counts["unchanged"] == 2387
    assert db_session.get(DailyPrice, ("005930", DAY)).volume == 38_655_277  # type: ignore[union-attr]


def test_malformed_rows_are_counted_and_the_rest_stored(recorded_krx: RecordedKrx, db_session: Session) -> None:
    payload = copy.deepcopy(recorded_krx.prices[DAY])
    payload["OutBlock_1"][0]["TDD_CLSPRC"] = "12a,000"
    payload["OutBlock_1"][1]["ISU_SRT_CD"] = ""
    recorded_krx.prices[DAY] = payload
    result = jobs.run_prices(day=DAY)
    assert result.counts["failed"] == 2
    assert result.counts["inserted"] == 2386
    run = db_session.get(JobRun, result.job_run_id)
    assert run is not None and run.status is JobStatus.SUCCEEDED and run.counts["failed"] == 2


def test_unpublished_day_is_reported_not_stored_as_zeros(recorded_krx: RecordedKrx, db_session: Session) -> None:
    payload = copy.deepcopy(recorded_krx.prices[DAY])
    for row in payload["OutBlock_1"]:
        for field in ("TDD_CLSPRC", "TDD_OPNPRC", "TDD_HGPRC", "TDD_LWPRC", "ACC_TRDVOL", "ACC_TRDVAL"):
            row[field] = "-"
    recorded_krx.prices[DAY] = payload
    result = jobs.run_prices(day=DAY)
    assert result.status is JobStatus.SUCCEEDED
    assert result.counts["unpublished"] == 2388
    assert result.details["unpublished_days"] == [DAY.isoformat()]
    assert _count(db_session, DailyPrice) == 0


def test_non_trading_days_are_skipped_without_calling_krx(recorded_krx: RecordedKrx) -> None:
    saturday, new_year = date(2021, 1, 2), date(2021, 1, 1)
    assert jobs.run_prices(day=saturday).counts == {"skipped_non_trading_day": 1}
    result = jobs.run_prices(start=new_year, end=DAY)  # Fri holiday, Sat, Sun, Mon
    assert result.status is JobStatus.SUCCEEDED
    assert result.counts["skipped_non_trading_day"] == 3 and result.counts["inserted"] == 2388
    assert recorded_krx.calls == [DAY]


def test_listing_adds_updates_and_retires_stocks(recorded_krx: RecordedKrx, db_session: Session) -> None:
    db_session.add(Stock(code="999990", name="상장폐지된회사", market=Market.KOSDAQ, active=True))
    # Retired by an earlier listing (delisted), now back on the exchange: reactivated.
    db_session.add(
        Stock(
            code="005930",
            name="옛이름",
            market=Market.KOSPI,
            active=False,
            delisted_at=datetime(2023, 1, 2, tzinfo=UTC),
        )
    )
    # Switched off by an admin while listed: the listing leaves that decision alone.
    db_session.add(Stock(code="000660", name="SK하이닉스", market=Market.KOSPI, active=False))
    db_session.commit()

    result = jobs.run_listing(day=date(2024, 1, 6))  # a Saturday: the basis is Friday's listing
    assert result.details["listing_date"] == "2024-01-05"
    assert result.counts["inserted"] == 2771 and result.counts["updated"] == 2 and result.counts["deactivated"] == 1
    db_session.expire_all()
    retired = db_session.get(Stock, "999990")
    assert retired is not None and retired.active is False and retired.delisted_at is not None
    samsung = db_session.get(Stock, "005930")
    assert samsung is not None and samsung.active and samsung.name == "삼성전자" and samsung.delisted_at is None
    hynix = db_session.get(Stock, "000660")
    assert hynix is not None and hynix.active is False and hynix.delisted_at is None
    assert db_session.get(Stock, "009520").market is Market.KOSDAQ  # type: ignore[union-attr]  # KOSDAQ GLOBAL

    again = jobs.run_listing(day=date(2024, 1, 6))
    assert again.counts["unchanged"] == 2773 and again.counts["inserted"] == again.counts["updated"] == 0


def test_truncated_listing_retires_nothing(recorded_krx: RecordedKrx, db_session: Session) -> None:
    jobs.run_listing(day=DAY)
    recorded_krx.listing_payload = {"OutBlock_1": recorded_krx.listing_payload["OutBlock_1"][:100]}
    result = jobs.run_listing(day=DAY)
    assert result.details["deactivation_skipped"] is True
    _, active_total = stock_service.get_all(db_session=db_session, active=True, limit=1, offset=0)
    assert active_total == 2773


def test_overlapping_run_is_skipped_by_the_lock(recorded_krx: RecordedKrx) -> None:
    from shared.stores.redis import exclusive_lock

    with exclusive_lock(f"crawl:prices:{DAY.isoformat()}", ttl_seconds=60) as held:
        assert held
        result = jobs.run_prices(day=DAY)
    assert result.status is JobStatus.SKIPPED
    assert recorded_krx.calls == []


def test_a_failing_day_leaves_no_half_written_batch(
    recorded_krx: RecordedKrx, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(**kwargs: Any) -> Any:
        raise RuntimeError("connection lost mid-batch")

    monkeypatch.setattr(stock_service, "upsert_daily_prices", explode)
    with pytest.raises(RuntimeError, match="mid-batch"):
        jobs.run_prices(day=DAY)
    assert _count(db_session, Stock) == 0  # the stocks created for the batch were rolled back with it
    run = db_session.scalars(select(JobRun).order_by(JobRun.id.desc())).first()
    assert run is not None and run.status is JobStatus.FAILED and "mid-batch" in (run.error or "")
