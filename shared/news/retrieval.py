"""Point-in-time news retrieval for predictions: nothing published at or after the cut-off.

Vector search in Milvus first (filtered by stock code and publish time); when vectors are
unavailable, the most recent linked news from Postgres. Either way the rows are re-read
from Postgres with the cut-off applied again, so a stale or wrong vector index can never
leak a future article into a prediction. A batch of stocks costs one vector search.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.news.models import News, NewsStock

log = logging.getLogger(__name__)

# How many hits to ask per stock before splitting a batch's shared result lists.
CANDIDATES_PER_RESULT = 8


@dataclass(frozen=True, slots=True)
class RetrievedNews:
    items: list[News]
    method: Literal["vector", "recent"]


def recent_for_stocks(
    *, db_session: Session, stock_codes: list[str], published_before: datetime, k: int
) -> dict[str, list[News]]:
    """Each stock's k latest linked news before the cut-off, in one query."""
    if not stock_codes or k <= 0:
        return {code: [] for code in stock_codes}
    ranked = (
        select(
            NewsStock.stock_code,
            News.id.label("news_id"),
            func.row_number()
            .over(partition_by=NewsStock.stock_code, order_by=(News.published_at.desc(), News.id.desc()))
            .label("rank"),
        )
        .join(News, News.id == NewsStock.news_id)
        .where(NewsStock.stock_code.in_(stock_codes), News.published_at < published_before)
        .subquery()
    )
    rows = db_session.execute(
        select(ranked.c.stock_code, News)
        .join(News, News.id == ranked.c.news_id)
        .where(ranked.c.rank <= k)
        .order_by(ranked.c.stock_code, ranked.c.rank)
    ).all()
    found: dict[str, list[News]] = {code: [] for code in stock_codes}
    for code, item in rows:
        found[code].append(item)
    return found


def retrieve_for_stocks(
    *, db_session: Session, queries: Mapping[str, str], published_before: datetime, k: int
) -> dict[str, RetrievedNews]:
    """Top-k news per stock code (`queries` maps code → query text)."""
    codes = list(queries)
    if k <= 0 or not codes:
        return {code: RetrievedNews([], "recent") for code in codes}
    recent = recent_for_stocks(db_session=db_session, stock_codes=codes, published_before=published_before, k=k)
    try:
        from shared.llm.embeddings import get_embedder
        from shared.llm.query_embeddings import embed_queries
        from shared.stores.milvus import get_news_store

        embedder = get_embedder()
        store = get_news_store(embedder.name, embedder.dimension)
        hit_lists = store.search_many(
            embed_queries(embedder, [queries[code] for code in codes]),
            limit=min(16_384, k * CANDIDATES_PER_RESULT),
            stock_codes=codes,
            published_before=published_before,
        )
    except Exception as exc:  # any vector-side failure degrades to recency, never fails the prediction
        log.warning("vector retrieval unavailable, using recent news", extra={"error": str(exc)[:300]})
        return {code: RetrievedNews(recent[code], "recent") for code in codes}

    wanted = {
        code: [hit.news_id for hit in hits if code in hit.stock_codes][:k]
        for code, hits in zip(codes, hit_lists, strict=True)
    }
    all_ids = {news_id for ids in wanted.values() for news_id in ids}
    rows = db_session.scalars(select(News).where(News.id.in_(all_ids), News.published_at < published_before))
    by_id = {row.id: row for row in rows}
    retrieved: dict[str, RetrievedNews] = {}
    for code in codes:
        items = [by_id[news_id] for news_id in wanted[code] if news_id in by_id]
        if not items:
            retrieved[code] = RetrievedNews(recent[code], "recent")
            continue
        # Vectors whose rows are gone (or not yet embedded) leave gaps: fill with recent news.
        seen = {item.id for item in items}
        items.extend(item for item in recent[code] if item.id not in seen)
        retrieved[code] = RetrievedNews(items[:k], "vector")
    return retrieved


def retrieve_for_stock(
    *, db_session: Session, stock_code: str, query_text: str, published_before: datetime, k: int
) -> RetrievedNews:
    return retrieve_for_stocks(
        db_session=db_session, queries={stock_code: query_text}, published_before=published_before, k=k
    )[stock_code]
