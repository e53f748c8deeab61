"""Every crawl job end to end against the sandbox (real wire formats) and real Postgres/Redis/Milvus Lite."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.ingestion import jobs
from shared.ingestion.options import CrawlOptions
from shared.jobs.models import JobRun, JobStatus
from shared.market_calendar import KST
from shared.news.models import News, NewsStock
from shared.sources.http import UpstreamUnavailableError
from shared.sources.krx import KrxAuthError, KrxDataClient, KrxLoginError
from shared.sources.naver import NaverConfigError
from shared.stocks.models import DailyPrice, Market, Stock

DAY = date(2024, 1, 5)
DATA_PATH = "/comm/bldAttendant/getJsonData.cmd"
LOGIN_POST = ("POST", "/contents/MDC/COMS/client/MDCCOMS001D1.cmd")


def _count(db_session: Session, model: type[Any], *where: Any) -> int:
    return int(db_session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _last_run(db_session: Session) -> JobRun:
    run = db_session.scalars(select(JobRun).order_by(JobRun.id.desc())).first()
    assert run is not None
    return run


# --- KRX: listing and prices ---------------------------------------------------------------


@pytest.mark.parametrize("source", ["data", "openapi"])
def test_listing_then_prices_and_rerun_idempotence(
    sandbox: Any, settings_env: Callable[..., Any], db_session: Session, source: str
) -> None:
    settings_env(KRX_SOURCE=source)
    sandbox.set_clock(datetime(2024, 1, 8, 9, 0, tzinfo=KST))  # the Open API publishes the 5th on the 6th
    listing = jobs.run_listing(day=DAY)
    assert listing.status is JobStatus.SUCCEEDED and listing.details["source"] == source
    stocks = listing.counts["inserted"]
    assert stocks == 40

    first = jobs.run_prices(day=DAY)
    assert first.counts["inserted"] == stocks and first.counts.get("stocks_created", 0) == 0
    assert first.counts["failed"] == 0
    samsung = db_session.get(DailyPrice, ("005930", DAY))
    assert samsung is not None and samsung.close == 76_600  # the real close of 2024-01-05

    again = jobs.run_prices(day=DAY)
    assert (again.counts["inserted"], again.counts["updated"], again.counts["unchanged"]) == (0, 0, stocks)
    assert jobs.run_listing(day=DAY).counts["unchanged"] == stocks
    assert _count(db_session, DailyPrice) == stocks


def test_prices_create_unknown_stocks_from_the_price_rows(sandbox: Any, db_session: Session) -> None:
    result = jobs.run_prices(day=DAY)
    assert result.counts["stocks_created"] == 40
    samsung = db_session.get(Stock, "005930")
    assert samsung is not None and (samsung.name, samsung.market, samsung.isin) == (
        "삼성전자",
        Market.KOSPI,
        "KR7005930003",
    )


def test_backfill_range_skips_weekends_and_stores_each_day(sandbox: Any, db_session: Session) -> None:
    sandbox.set_clock(datetime(2024, 1, 15, 9, 0, tzinfo=KST))
    result = jobs.run_prices(start=date(2024, 1, 2), end=date(2024, 1, 12))
    assert result.status is JobStatus.SUCCEEDED
    assert result.counts["skipped_non_trading_day"] == 2 and result.details["stored_days"] == 9
    assert _count(db_session, DailyPrice) == 9 * 40


def test_holiday_is_skipped_without_asking_krx(sandbox: Any) -> None:
    result = jobs.run_prices(day=date(2024, 2, 9))  # Lunar New Year
    assert result.status is JobStatus.SUCCEEDED and result.counts == {"skipped_non_trading_day": 1}
    assert not any(path == DATA_PATH for _, path in sandbox.requests)


def test_a_day_not_yet_published_is_reported_not_stored(sandbox: Any, db_session: Session) -> None:
    result = jobs.run_prices(day=date(2024, 1, 8))  # the sandbox clock is still on the 5th: "-" rows
    assert result.status is JobStatus.SUCCEEDED
    assert result.counts["unpublished"] == 40 and result.details["unpublished_days"] == ["2024-01-08"]
    assert _count(db_session, DailyPrice) == 0


def test_openapi_empty_day_is_reported_as_unpublished(
    sandbox: Any, settings_env: Callable[..., Any], db_session: Session
) -> None:
    settings_env(KRX_SOURCE="openapi")  # clock 18:30 on the 5th: published only the next morning
    result = jobs.run_prices(day=DAY)
    assert result.details["unpublished_days"] == ["2024-01-05"] and _count(db_session, DailyPrice) == 0


def test_krx_session_is_renewed_after_logout(sandbox: Any) -> None:
    client = KrxDataClient(markets=(Market.KOSPI, Market.KOSDAQ))
    try:
        assert len(client.daily_prices(DAY).records) == 40
        sandbox.set_clock(datetime(2024, 1, 5, 20, 0, tzinfo=KST))  # an hour and a half later: LOGOUT
        assert len(client.daily_prices(DAY).records) == 40
    finally:
        client.close()
    assert sandbox.requests.count(LOGIN_POST) == 2


def test_duplicate_login_is_resent_with_skip_dup(sandbox: Any) -> None:
    first = KrxDataClient(markets=(Market.KOSPI,))
    second = KrxDataClient(markets=(Market.KOSPI,))
    try:
        first.login()
        second.login()  # CD011 → skipDup=Y
        assert second.daily_prices(DAY).records
    finally:
        first.close()
        second.close()
    assert sandbox.requests.count(LOGIN_POST) == 3


def test_wrong_krx_password_fails_the_job_clearly(
    sandbox: Any, settings_env: Callable[..., Any], db_session: Session
) -> None:
    settings_env(KRX_PW="wrong")
    with pytest.raises(KrxLoginError, match="CD002"):
        jobs.run_prices(day=DAY)
    run = _last_run(db_session)
    assert run.status is JobStatus.FAILED and "CD002" in (run.error or "")


def test_wrong_openapi_key_is_not_retried(sandbox: Any, settings_env: Callable[..., Any]) -> None:
    settings_env(KRX_SOURCE="openapi", KRX_AUTH_KEY="wrong")
    with pytest.raises(KrxAuthError):
        jobs.run_prices(day=DAY)
    assert sum(1 for _, path in sandbox.requests if path.startswith("/svc/apis/")) == 1


def test_5xx_and_429_are_retried(sandbox: Any, db_session: Session) -> None:
    sandbox.inject_fault(DATA_PATH, status=503, body="Service Unavailable", times=2)
    sandbox.inject_fault(DATA_PATH, status=429, body="Too Many Requests", headers={"Retry-After": "1"})
    result = jobs.run_prices(day=DAY)
    assert result.status is JobStatus.SUCCEEDED and result.counts["inserted"] == 40
    assert sum(1 for _, path in sandbox.requests if path == DATA_PATH) == 4


def test_a_timeout_is_retried(sandbox: Any, settings_env: Callable[..., Any]) -> None:
    settings_env(HTTP_TIMEOUT_SECONDS="0.3")
    sandbox.inject_fault(DATA_PATH, delay=1.0)
    assert jobs.run_prices(day=DAY).counts["inserted"] == 40


def test_an_upstream_that_stays_down_fails_the_run_and_stores_nothing(
    sandbox: Any, db_session: Session, settings_env: Callable[..., Any]
) -> None:
    settings_env(HTTP_MAX_ATTEMPTS="3")
    sandbox.inject_fault(DATA_PATH, status=500, body="error", times=10)
    with pytest.raises(UpstreamUnavailableError, match="HTTP 500"):
        jobs.run_prices(day=DAY)
    assert _count(db_session, DailyPrice) == 0
    assert _last_run(db_session).status is JobStatus.FAILED


def test_backfill_with_a_failing_day_stores_the_others_and_reports_it(
    sandbox: Any, db_session: Session, settings_env: Callable[..., Any]
) -> None:
    settings_env(HTTP_MAX_ATTEMPTS="2")
    sandbox.set_clock(datetime(2024, 1, 8, 9, 0, tzinfo=KST))
    jobs.run_prices(day=date(2024, 1, 2))  # logs in, so the fault below hits a price request
    sandbox.inject_fault(DATA_PATH, status=502, body="bad gateway", times=2)
    with pytest.raises(Exception, match="1 trading day"):
        jobs.run_prices(start=date(2024, 1, 3), end=date(2024, 1, 5))
    run = _last_run(db_session)
    assert run.status is JobStatus.FAILED and run.counts["failed_days"] == 1
    assert _count(db_session, DailyPrice) == 3 * 40  # the 2nd plus the two days that worked


def test_overlapping_runs_one_is_skipped(sandbox: Any, db_session: Session) -> None:
    sandbox.inject_fault("/contents/MDC/COMS/client/MDCCOMS001.cmd", delay=0.5)  # slows the first run's login
    results: list[Any] = []
    first = threading.Thread(target=lambda: results.append(jobs.run_prices(day=DAY)))
    first.start()
    while not any(path.endswith("MDCCOMS001.cmd") for _, path in sandbox.requests):
        threading.Event().wait(0.01)
    second = jobs.run_prices(day=DAY)
    first.join()
    assert second.status is JobStatus.SKIPPED
    assert results[0].status is JobStatus.SUCCEEDED and results[0].counts["inserted"] == 40


# --- Naver news -------------------------------------------------------------------------------


def _listed(db_session: Session, *, watched: tuple[str, ...] = ("005930",)) -> None:
    jobs.run_listing(day=DAY)
    for code in watched:
        stock = db_session.get(Stock, code)
        assert stock is not None
        stock.watched = True
    db_session.commit()


def test_news_is_stored_linked_and_a_rerun_changes_nothing(sandbox: Any, db_session: Session) -> None:
    _listed(db_session)
    first = jobs.run_news(day=DAY)
    assert first.status is JobStatus.SUCCEEDED and first.counts["inserted"] > 0
    stored = _count(db_session, News)
    assert _count(db_session, NewsStock, NewsStock.stock_code == "005930") == stored
    other_links = _count(db_session, NewsStock, NewsStock.stock_code != "005930")
    assert other_links > 0  # articles naming another stock of the universe are linked to it too
    titles = db_session.scalars(select(News.title)).all()
    assert not any("<b>" in title or "&quot;" in title for title in titles)

    second = jobs.run_news(day=DAY)
    assert second.counts["inserted"] == 0 and second.counts["links_created"] == 0
    assert second.counts["requests"] == 1  # the first page was already known
    assert _count(db_session, News) == stored


def test_news_retries_the_per_second_limit(sandbox: Any, db_session: Session) -> None:
    _listed(db_session)
    rate_limited = {"errorMessage": "Rate limit exceeded. (속도 제한을 초과했습니다.)", "errorCode": "012"}
    sandbox.inject_fault("/v1/search/news.json", status=429, body=rate_limited)
    result = jobs.run_news(day=DAY)
    assert result.counts["inserted"] > 0 and result.counts.get("failed_queries", 0) == 0


def test_news_quota_exceeded_stops_cleanly(sandbox: Any, db_session: Session) -> None:
    _listed(db_session, watched=("005930", "000660"))
    quota = {"errorMessage": "Query limit exceeded. (쿼리 한도를 초과했습니다.)", "errorCode": "010"}
    sandbox.inject_fault("/v1/search/news.json", status=429, times=5, body=quota)
    result = jobs.run_news(day=DAY)
    assert result.status is JobStatus.SUCCEEDED and result.details["stopped"] == "quota_exhausted"
    assert sum(1 for _, path in sandbox.requests if path == "/v1/search/news.json") == 1


def test_news_with_a_wrong_secret_is_a_config_error(
    sandbox: Any, db_session: Session, settings_env: Callable[..., Any]
) -> None:
    _listed(db_session)
    settings_env(NAVER_CLIENT_SECRET="wrong")
    with pytest.raises(NaverConfigError, match="024"):
        jobs.run_news(day=DAY)
    assert sum(1 for _, path in sandbox.requests if path == "/v1/search/news.json") == 1


def test_news_then_embed_end_to_end(sandbox: Any, db_session: Session) -> None:
    _listed(db_session)
    jobs.run_news(day=DAY)
    pending = _count(db_session, News)
    result = jobs.run_embed(day=DAY)
    assert result.counts["embedded"] == pending and result.details["pending_after"] == 0


def test_embed_with_the_openai_embedder(sandbox: Any, db_session: Session, settings_env: Callable[..., Any]) -> None:
    _listed(db_session)
    jobs.run_news(day=DAY)
    settings_env(OPENAI_API_KEY="sk-sandbox", OPENAI_BASE_URL=f"{sandbox.base_url}/v1")
    result = jobs.run_embed(day=DAY, options=CrawlOptions(embed_batch_size=100))
    assert result.details["embedder"] == "text-embedding-3-small" and result.details["dimension"] == 1536
    assert result.counts["embedded"] == _count(db_session, News)
    assert {model for (model,) in db_session.execute(select(News.embedding_model).distinct())} == {
        "text-embedding-3-small"
    }


# --- KIS quotes ------------------------------------------------------------------------------


INTRADAY = datetime(2024, 1, 5, 11, 0, tzinfo=KST)
KIS_PRICE = "/uapi/domestic-stock/v1/quotations/inquire-price"


@pytest.fixture
def notify_queue(settings_env: Callable[..., Any]) -> Any:
    from moto import mock_aws

    from shared.queues import reset_queue_client

    with mock_aws():
        import boto3

        reset_queue_client()
        sqs = boto3.client("sqs", region_name="ap-northeast-2")
        url = sqs.create_queue(QueueName="notify")["QueueUrl"]
        settings_env(NOTIFY_QUEUE_URL=url)
        yield sqs, url
        reset_queue_client()


def _received(sqs: Any, url: str) -> list[dict[str, Any]]:
    import json

    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def test_quotes_send_threshold_alerts_once_per_day(sandbox: Any, db_session: Session, notify_queue: Any) -> None:
    from shared.notifications.messages import notify_message_adapter

    sqs, url = notify_queue
    _listed(db_session, watched=("005930", "000660", "035420"))
    sandbox.set_clock(INTRADAY)
    options = CrawlOptions(quote_alert_thresholds=(0.0001, 99.0))  # every moving stock crosses the first
    first = jobs.run_quotes(day=DAY, now=INTRADAY, options=options)
    assert first.status is JobStatus.SUCCEEDED and first.counts["fetched"] == 3
    bodies = _received(sqs, url)
    assert len(bodies) == first.counts["alerts_sent"] > 0
    alert = notify_message_adapter.validate_python(bodies[0])
    assert alert.kind == "alert" and alert.day == DAY and alert.threshold == 0.0001

    again = jobs.run_quotes(day=DAY, now=INTRADAY + timedelta(minutes=5), options=options)
    assert again.counts.get("alerts_sent", 0) == 0 and _received(sqs, url) == []


def test_quotes_outside_market_hours_do_nothing(sandbox: Any, db_session: Session) -> None:
    _listed(db_session)
    result = jobs.run_quotes(day=DAY, now=datetime(2024, 1, 5, 18, 30, tzinfo=KST))
    assert result.counts == {"skipped_market_closed": 1}
    assert not any(path.startswith("/uapi/") for _, path in sandbox.requests)


def test_kis_rate_limit_errors_are_retried(sandbox: Any, db_session: Session) -> None:
    _listed(db_session)
    sandbox.set_clock(INTRADAY)
    too_fast = {"rt_cd": "1", "msg_cd": "EGW00201", "msg1": "초당 거래건수를 초과하였습니다."}
    sandbox.inject_fault(KIS_PRICE, status=500, times=2, body=too_fast)
    result = jobs.run_quotes(day=DAY, now=INTRADAY)
    assert result.counts["fetched"] == 1 and result.counts.get("failed", 0) == 0


def test_kis_token_is_cached_and_refreshed_once_when_expired(sandbox: Any, db_session: Session) -> None:
    _listed(db_session)
    sandbox.set_clock(INTRADAY)
    jobs.run_quotes(day=DAY, now=INTRADAY)
    jobs.run_quotes(day=DAY, now=INTRADAY + timedelta(minutes=1))
    assert sandbox.requests.count(("POST", "/oauth2/tokenP")) == 1  # the second run reused the cached token

    next_day = datetime(2024, 1, 8, 11, 0, tzinfo=KST)  # the sandbox token has expired (24 h)
    sandbox.set_clock(next_day)
    result = jobs.run_quotes(day=next_day.date(), now=next_day)
    assert result.counts["fetched"] == 1
    assert sandbox.requests.count(("POST", "/oauth2/tokenP")) == 2


def test_concurrent_containers_share_one_token(sandbox: Any) -> None:
    from shared.sources.kis import KisClient

    clients = [KisClient() for _ in range(4)]
    tokens: list[str] = []
    barrier = threading.Barrier(len(clients))

    def fetch(client: KisClient) -> None:
        barrier.wait()
        tokens.append(client.tokens.get())

    threads = [threading.Thread(target=fetch, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in clients:
        client.close()
    assert len(set(tokens)) == 1 and len(tokens) == 4
    assert sandbox.requests.count(("POST", "/oauth2/tokenP")) == 1


def test_kis_chart_backfill_pages_back(sandbox: Any, db_session: Session) -> None:
    _listed(db_session)
    result = jobs.run_quotes(start=date(2023, 6, 1), end=DAY)
    assert result.status is JobStatus.SUCCEEDED
    stored = _count(db_session, DailyPrice, DailyPrice.code == "005930")
    assert stored == result.counts["inserted"] > 100  # more than one page of 100 rows
    bar = db_session.get(DailyPrice, ("005930", DAY))
    assert bar is not None and bar.close == 76_600
    again = jobs.run_quotes(start=date(2023, 6, 1), end=DAY)
    assert again.counts["inserted"] == 0 and again.counts["unchanged"] == stored


def test_unknown_kis_app_key_is_a_config_error(
    sandbox: Any, db_session: Session, settings_env: Callable[..., Any]
) -> None:
    from shared.sources.kis import KisAuthError

    _listed(db_session)
    settings_env(KIS_APP_KEY="wrong")
    sandbox.set_clock(INTRADAY)
    with pytest.raises(KisAuthError, match="EGW00103"):
        jobs.run_quotes(day=DAY, now=INTRADAY)
