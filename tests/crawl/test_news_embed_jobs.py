"""News and embed jobs against real Postgres/Redis/Milvus Lite; Naver mocked at the HTTP layer.

(The sandbox-backed tests exercise the same jobs over the real wire format.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.ingestion import jobs
from shared.ingestion.options import CrawlOptions
from shared.jobs.models import JobStatus
from shared.market_calendar import KST
from shared.news import service as news_service
from shared.news.models import EmbeddingStatus, News, NewsStock
from shared.sources.naver import NaverConfigError
from shared.stocks.models import Market, Stock

NAVER = "https://naver.test"
DAY = date(2024, 1, 5)


class FakeNaver:
    """Answers news searches from a per-query list of articles, newest first, in Naver's shape."""

    def __init__(self) -> None:
        self.articles: dict[str, list[dict[str, str]]] = {}
        self.queries: list[tuple[str, int]] = []
        self.fail_with: httpx.Response | None = None

    def add(self, query: str, count: int, *, title: str = "{q} 기사 {i}", prefix: str = "") -> None:
        base = datetime(2024, 1, 5, 16, 0, tzinfo=KST)
        self.articles.setdefault(query, [])
        for i in range(count):
            published = base - timedelta(minutes=i)
            self.articles[query].append(
                {
                    "title": f"<b>{title.format(q=query, i=i)}</b>",
                    "originallink": f"https://press.example/{prefix}{query}/{i}",
                    "link": f"https://n.news.naver.com/{prefix}{query}/{i}",
                    "description": f"{query} 관련 &quot;요약&quot; {i}",
                    "pubDate": published.strftime("%a, %d %b %Y %H:%M:%S +0900"),
                }
            )

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.fail_with is not None:
            return self.fail_with
        assert request.headers["X-Naver-Client-Id"] == "naver-id"
        query = request.url.params["query"]
        start, display = int(request.url.params["start"]), int(request.url.params["display"])
        assert request.url.params["sort"] == "date"
        self.queries.append((query, start))
        items = self.articles.get(query, [])[start - 1 : start - 1 + display]
        body = {"lastBuildDate": "Fri, 05 Jan 2024 16:20:11 +0900", "total": len(self.articles.get(query, [])),
                "start": start, "display": len(items), "items": items}  # fmt: skip
        return httpx.Response(200, json=body)


@pytest.fixture
def naver(settings_env: Callable[..., Any], database: str, redis_client: Any) -> Iterator[FakeNaver]:
    settings_env(NAVER_BASE_URL=NAVER, NAVER_CLIENT_ID="naver-id", NAVER_CLIENT_SECRET="naver-secret")
    fake = FakeNaver()
    with respx.mock(assert_all_called=False) as router:
        router.get(f"{NAVER}/v1/search/news.json").mock(side_effect=fake)
        yield fake


def _stocks(db_session: Session, *rows: tuple[str, str, bool]) -> None:
    for code, name, watched in rows:
        db_session.add(Stock(code=code, name=name, market=Market.KOSPI, active=True, watched=watched))
    db_session.commit()


def _count(db_session: Session, model: type[Any]) -> int:
    return int(db_session.scalar(select(func.count()).select_from(model)) or 0)


def test_news_for_watched_stocks_is_stored_and_linked(naver: FakeNaver, db_session: Session) -> None:
    _stocks(db_session, ("005930", "삼성전자", True), ("000660", "SK하이닉스", False))
    naver.add("삼성전자", 3, title="{q}와 SK하이닉스 동반 상승 {i}")
    result = jobs.run_news(day=DAY)
    assert result.status is JobStatus.SUCCEEDED
    assert result.counts["inserted"] == 3 and result.counts["fetched"] == 3
    assert naver.queries == [("삼성전자", 1)]  # only the watched stock is searched
    news = db_session.scalars(select(News).order_by(News.id)).all()
    assert news[0].title == "삼성전자와 SK하이닉스 동반 상승 0"
    assert news[0].summary == '삼성전자 관련 "요약" 0'
    assert news[0].published_at == datetime(2024, 1, 5, 16, 0, tzinfo=KST)
    assert news[0].embedding_status is EmbeddingStatus.PENDING
    links = set(db_session.execute(select(NewsStock.news_id, NewsStock.stock_code)).tuples())
    assert {code for _, code in links} == {"005930", "000660"} and len(links) == 6


def test_news_rerun_stops_at_seen_items_and_changes_nothing(naver: FakeNaver, db_session: Session) -> None:
    _stocks(db_session, ("005930", "삼성전자", False), ("000660", "SK하이닉스", False))
    naver.add("삼성전자", 150)
    naver.add("SK하이닉스", 5)
    first = jobs.run_news(day=DAY)
    assert first.counts["inserted"] == 155
    assert naver.queries == [("SK하이닉스", 1), ("삼성전자", 1), ("삼성전자", 101)]
    naver.queries.clear()
    second = jobs.run_news(day=DAY)
    assert second.counts["inserted"] == 0 and second.counts["links_created"] == 0
    assert naver.queries == [("SK하이닉스", 1), ("삼성전자", 1)]  # stops at the first page of known items
    assert _count(db_session, News) == 155


def test_duplicate_urls_across_pages_and_stocks_are_stored_once(naver: FakeNaver, db_session: Session) -> None:
    _stocks(db_session, ("005930", "삼성전자", False), ("005935", "삼성전자우", False))
    naver.add("삼성전자", 2, prefix="shared/")
    naver.articles["삼성전자우"] = list(naver.articles["삼성전자"])
    result = jobs.run_news(day=DAY)
    assert result.counts["inserted"] == 2 and result.counts["unchanged"] == 2
    assert _count(db_session, News) == 2
    assert _count(db_session, NewsStock) == 4  # each article linked to both queried stocks


def test_news_stops_before_exceeding_the_daily_quota(
    naver: FakeNaver, db_session: Session, settings_env: Callable[..., Any]
) -> None:
    settings_env(NAVER_DAILY_QUOTA="2")
    _stocks(db_session, *[(f"00000{i}", f"종목{i}", False) for i in range(4)])
    for i in range(4):
        naver.add(f"종목{i}", 1)
    result = jobs.run_news(day=DAY)
    assert result.status is JobStatus.SUCCEEDED
    assert len(naver.queries) == 2 and result.counts["quota_exhausted"] == 1
    assert result.details["stopped"] == "quota_exhausted"


def test_naver_quota_error_stops_for_the_day(naver: FakeNaver, db_session: Session) -> None:
    _stocks(db_session, ("005930", "삼성전자", False), ("000660", "SK하이닉스", False))
    naver.fail_with = httpx.Response(429, json={"errorMessage": "Query limit exceeded", "errorCode": "010"})
    first = jobs.run_news(day=DAY)
    assert first.details["stopped"] == "quota_exhausted"
    naver.fail_with = None
    second = jobs.run_news(day=DAY)  # the same day: not even tried
    assert second.details["stopped"] == "quota_exhausted" and naver.queries == []


def test_naver_auth_error_fails_the_job_clearly(naver: FakeNaver, db_session: Session) -> None:
    _stocks(db_session, ("005930", "삼성전자", False))
    naver.fail_with = httpx.Response(401, json={"errorMessage": "Not Exist Client ID", "errorCode": "024"})
    with pytest.raises(NaverConfigError, match="024"):
        jobs.run_news(day=DAY)


def test_naver_server_errors_are_retried_then_the_stock_skipped(naver: FakeNaver, db_session: Session) -> None:
    _stocks(db_session, ("005930", "삼성전자", False))
    naver.fail_with = httpx.Response(500, json={"errorMessage": "System error", "errorCode": "SE99"})
    result = jobs.run_news(day=DAY)
    assert result.status is JobStatus.SUCCEEDED and result.counts["failed_queries"] == 1


def _pending_news(db_session: Session, count: int) -> list[int]:
    _stocks(db_session, ("005930", "삼성전자", False))
    base = datetime(2024, 1, 5, 9, 0, tzinfo=KST)
    ids = []
    for i in range(count):
        news = News(
            url=f"https://press.example/{i}",
            title=f"삼성전자 기사 {i}",
            summary="요약",
            source="press.example",
            published_at=base + timedelta(minutes=i),
        )
        db_session.add(news)
        db_session.flush()
        db_session.add(NewsStock(news_id=news.id, stock_code="005930"))
        ids.append(news.id)
    db_session.commit()
    return ids


def test_embed_moves_pending_news_into_milvus(database: str, db_session: Session, redis_client: Any) -> None:
    from shared.llm.embeddings import get_embedder
    from shared.stores.milvus import get_news_store

    ids = _pending_news(db_session, 70)
    result = jobs.run_embed(day=DAY, options=CrawlOptions(embed_batch_size=32))
    assert result.status is JobStatus.SUCCEEDED
    assert result.counts["embedded"] == 70 and result.details["pending_after"] == 0
    db_session.expire_all()
    rows = news_service.get_many(db_session=db_session, ids=ids)
    assert {row.embedding_status for row in rows} == {EmbeddingStatus.DONE}
    assert {row.embedding_model for row in rows} == {"local_hash"}
    embedder = get_embedder()
    store = get_news_store(embedder.name, embedder.dimension)
    [query] = embedder.embed(["삼성전자 기사 7\n요약"])
    hits = store.search(query, limit=3, stock_code="005930")
    assert hits[0].news_id == ids[7]

    again = jobs.run_embed(day=DAY)
    assert again.counts.get("fetched", 0) == 0  # nothing pending: a re-run does nothing


def test_milvus_outage_loses_nothing_and_recovery_catches_up(
    database: str, db_session: Session, redis_client: Any, settings_env: Callable[..., Any], milvus_path: Any
) -> None:
    import socket

    ids = _pending_news(db_session, 10)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings_env(MILVUS_URI=f"http://127.0.0.1:{closed_port}")
    for _ in range(7):  # more runs than embed_max_attempts: an outage never gives up on items
        with pytest.raises(Exception, match="not embedded"):
            jobs.run_embed(day=DAY)
    db_session.expire_all()
    rows = news_service.get_many(db_session=db_session, ids=ids)
    assert {row.embedding_status for row in rows} == {EmbeddingStatus.PENDING}
    assert {row.embedding_attempts for row in rows} == {7}
    assert "milvus" in (rows[0].embedding_error or "")

    settings_env(MILVUS_URI=str(milvus_path))
    result = jobs.run_embed(day=DAY)
    assert result.counts["embedded"] == 10
    db_session.expire_all()
    assert {row.embedding_status for row in news_service.get_many(db_session=db_session, ids=ids)} == {
        EmbeddingStatus.DONE
    }


def test_embedder_refusing_items_gives_up_after_max_attempts(
    database: str, db_session: Session, redis_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.ingestion import embed

    class Refused(Exception):
        status_code = 400

    class RefusingEmbedder:
        name, dimension = "refusing", 8

        def embed(self, texts: list[str]) -> list[list[float]]:
            raise Refused("input too long")

    ids = _pending_news(db_session, 3)
    monkeypatch.setattr(embed, "get_embedder", lambda: RefusingEmbedder())
    for _ in range(2):
        with pytest.raises(embed.EmbeddingBatchError):
            jobs.run_embed(day=DAY, options=CrawlOptions(embed_max_attempts=2))
    db_session.expire_all()
    rows = news_service.get_many(db_session=db_session, ids=ids)
    assert {row.embedding_status for row in rows} == {EmbeddingStatus.FAILED}
    assert news_service.requeue_failed_embeddings(db_session=db_session) == 3
