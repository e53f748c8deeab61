"""Read-only news queries for the API: a stock's news, and the Postgres side of news search."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, case, exists, func, literal, select
from sqlalchemy.orm import Session

from shared.news.models import News, NewsStock
from shared.news.schemas import NewsRead, NewsSearchHit, NewsSearchResponse

log = logging.getLogger(__name__)

MAX_SEARCH_TERMS = 8


def news_for_stock(*, db_session: Session, stock_code: str, limit: int, offset: int) -> tuple[list[News], int]:
    """A stock's news, newest first (ties by id), and how many there are."""
    linked = exists().where(NewsStock.news_id == News.id, NewsStock.stock_code == stock_code)
    total = db_session.scalar(select(func.count()).select_from(NewsStock).where(NewsStock.stock_code == stock_code))
    items = db_session.scalars(
        select(News).where(linked).order_by(News.published_at.desc(), News.id.desc()).limit(limit).offset(offset)
    ).all()
    return list(items), int(total or 0)


def stock_codes_by_news(*, db_session: Session, news_ids: Sequence[int]) -> dict[int, list[str]]:
    if not news_ids:
        return {}
    codes: dict[int, list[str]] = defaultdict(list)
    rows = db_session.execute(
        select(NewsStock.news_id, NewsStock.stock_code)
        .where(NewsStock.news_id.in_(list(news_ids)))
        .order_by(NewsStock.news_id, NewsStock.stock_code)
    )
    for news_id, code in rows:
        codes[news_id].append(code)
    return dict(codes)


def news_by_ids(*, db_session: Session, news_ids: Sequence[int]) -> dict[int, News]:
    if not news_ids:
        return {}
    return {item.id: item for item in db_session.scalars(select(News).where(News.id.in_(list(news_ids))))}


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_text(*, db_session: Session, query: str, stock_code: str | None, limit: int) -> list[tuple[News, float]]:
    """Every term in the title or summary (substring match: Korean attaches particles to words,
    so word-based full-text configurations miss "삼성전자가" for "삼성전자"). Ranked by how many
    terms the title holds, then recency. The score is the share of terms found in the title.
    """
    terms = [term for term in query.split() if term][:MAX_SEARCH_TERMS]
    if not terms:
        return []
    conditions: list[ColumnElement[bool]] = []
    title_hits: list[Any] = []
    for term in terms:
        pattern = f"%{_escape_like(term)}%"
        in_title = News.title.ilike(pattern, escape="\\")
        conditions.append(in_title | News.summary.ilike(pattern, escape="\\"))
        title_hits.append(case((in_title, 1), else_=0))
    score = (sum(title_hits, literal(0)) / float(len(terms))).label("score")
    if stock_code is not None:
        conditions.append(exists().where(and_(NewsStock.news_id == News.id, NewsStock.stock_code == stock_code)))
    rows = db_session.execute(
        select(News, score)
        .where(*conditions)
        .order_by(score.desc(), News.published_at.desc(), News.id.desc())
        .limit(limit)
    ).all()
    return [(row[0], float(row[1])) for row in rows]


def search(*, db_session: Session, query: str, stock_code: str | None, limit: int) -> NewsSearchResponse:
    """Semantic search over the news vectors in Milvus; Postgres text search when vectors are
    unavailable (Milvus down, nothing embedded yet for this filter). The answer says which."""
    fallback_reason: str | None
    try:
        hits = _vector_search(query=query, stock_code=stock_code, limit=limit)
        fallback_reason = None if hits else "no embedded news matched the filter"
    except Exception as exc:  # any vector-side failure: the text search still answers
        log.warning("vector news search failed; using text search", extra={"error": f"{type(exc).__name__}: {exc}"})
        hits, fallback_reason = [], f"vector search unavailable ({type(exc).__name__})"
    if fallback_reason is None:
        found = news_by_ids(db_session=db_session, news_ids=[news_id for news_id, _ in hits])
        ranked = [(found[news_id], score) for news_id, score in hits if news_id in found]
        method: Literal["vector", "fulltext"] = "vector"
    else:
        ranked = search_text(db_session=db_session, query=query, stock_code=stock_code, limit=limit)
        method = "fulltext"
    codes = stock_codes_by_news(db_session=db_session, news_ids=[item.id for item, _ in ranked])
    return NewsSearchResponse(
        query=query,
        stock_code=stock_code,
        method=method,
        fallback_reason=fallback_reason,
        items=[
            NewsSearchHit.model_validate(
                {**NewsRead.model_validate(item).model_dump(), "stock_codes": codes.get(item.id, []), "score": score}
            )
            for item, score in ranked
        ],
    )


def _vector_search(*, query: str, stock_code: str | None, limit: int) -> list[tuple[int, float]]:
    # Imported here: pymilvus costs ~0.5 s of cold start that other routes must not pay.
    from shared.llm.embeddings import get_embedder
    from shared.stores.milvus import get_news_store

    embedder = get_embedder()
    [embedding] = embedder.embed([query])
    store = get_news_store(embedder.name, embedder.dimension)
    return [(hit.news_id, hit.score) for hit in store.search(embedding, limit=limit, stock_code=stock_code)]
