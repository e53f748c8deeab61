"""News search: vectors in Milvus when available, Postgres text search otherwise."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest


@pytest.fixture
def news_market(market: Any, settings_env: Any) -> Any:
    # A collection of this test's own: Milvus Lite's file outlives single tests.
    settings_env(MILVUS_COLLECTION_PREFIX=f"news_{uuid.uuid4().hex[:8]}")
    market.stock("005930", "삼성전자")
    market.stock("000660", "SK하이닉스")
    items = [
        market.news(
            "삼성전자 반도체 실적 개선 전망", codes=("005930",), summary="메모리 가격 상승으로 4분기 이익 증가"
        ),
        market.news("SK하이닉스 HBM 공급 확대", codes=("000660",), summary="인공지능 서버용 고대역폭 메모리 수요"),
        market.news(
            "원달러 환율 하락에 수출주 약세",
            codes=("005930", "000660"),
            summary="외환시장 동향",
            published_at=datetime(2024, 1, 3, tzinfo=UTC),
        ),
    ]
    market.commit()
    market.ids["news"] = [item.id for item in items]
    return market


def _embed_all(market: Any) -> None:
    from shared.llm.embeddings import get_embedder
    from shared.news.models import News, NewsStock
    from shared.stores.milvus import NewsVector, get_news_store

    embedder = get_embedder()
    store = get_news_store(embedder.name, embedder.dimension)
    items = market.session.query(News).order_by(News.id).all()
    links = market.session.query(NewsStock).all()
    embeddings = embedder.embed([f"{item.title} {item.summary}" for item in items])
    store.upsert(
        [
            NewsVector(
                news_id=item.id,
                embedding=embedding,
                stock_codes=[link.stock_code for link in links if link.news_id == item.id],
                published_at=item.published_at,
            )
            for item, embedding in zip(items, embeddings, strict=True)
        ]
    )


def test_vector_search(client: Any, news_market: Any, user_account: Any) -> None:
    _embed_all(news_market)
    body = client.get("/api/news/search", params={"q": "반도체 실적 전망"}, headers=user_account.headers).json()
    assert body["method"] == "vector" and body["fallback_reason"] is None
    assert body["items"][0]["title"] == "삼성전자 반도체 실적 개선 전망"
    assert body["items"][0]["stock_codes"] == ["005930"]
    scores = [item["score"] for item in body["items"]]
    assert scores == sorted(scores, reverse=True)
    filtered = client.get(
        "/api/news/search", params={"q": "메모리", "stock": "000660"}, headers=user_account.headers
    ).json()
    assert filtered["method"] == "vector"
    assert {item["title"] for item in filtered["items"]} <= {
        "SK하이닉스 HBM 공급 확대",
        "원달러 환율 하락에 수출주 약세",
    }


def test_text_fallback_when_nothing_is_embedded(client: Any, news_market: Any, user_account: Any) -> None:
    body = client.get("/api/news/search", params={"q": "메모리"}, headers=user_account.headers).json()
    assert body["method"] == "fulltext"
    assert body["fallback_reason"]
    assert {item["title"] for item in body["items"]} == {"삼성전자 반도체 실적 개선 전망", "SK하이닉스 HBM 공급 확대"}


def test_text_fallback_when_milvus_is_down(
    client: Any, news_market: Any, user_account: Any, settings_env: Any, tmp_path: Any
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    settings_env(MILVUS_URI=str(blocker / "milvus.db"))
    response = client.get(
        "/api/news/search", params={"q": "환율 수출주", "stock": "000660"}, headers=user_account.headers
    )
    assert response.status_code == 200
    body = response.json()
    assert body["method"] == "fulltext"
    assert "unavailable" in body["fallback_reason"]
    assert [item["title"] for item in body["items"]] == ["원달러 환율 하락에 수출주 약세"]
    assert body["items"][0]["stock_codes"] == ["000660", "005930"]


def test_text_search_ranks_title_matches_first_and_escapes_wildcards(
    client: Any, news_market: Any, user_account: Any, settings_env: Any, tmp_path: Any
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    settings_env(MILVUS_URI=str(blocker / "milvus.db"))
    body = client.get("/api/news/search", params={"q": "메모리"}, headers=user_account.headers).json()
    assert body["items"][0]["score"] == 0.0  # "메모리" is in summaries only
    assert client.get("/api/news/search", params={"q": "%"}, headers=user_account.headers).json()["items"] == []


@pytest.mark.parametrize(
    "params", [{}, {"q": ""}, {"q": "x" * 201}, {"q": "a", "stock": "abc"}, {"q": "a", "limit": 51}]
)
def test_bad_search_input_is_422(client: Any, user_account: Any, params: dict[str, Any]) -> None:
    assert client.get("/api/news/search", params=params, headers=user_account.headers).status_code == 422


def test_text_search_can_use_the_trigram_indexes(db_session: Any) -> None:
    """ILIKE '%term%' on title and summary is served by the pg_trgm GIN indexes (migration 0003)."""
    from shared.news.queries import search_text
    from tests.api.query_plans import plan_of_last_statement

    plan = plan_of_last_statement(
        db_session, lambda: search_text(db_session=db_session, query="반도체 수출", stock_code=None, limit=10)
    )
    assert "ix_news_title_trgm" in plan and "ix_news_summary_trgm" in plan, plan
