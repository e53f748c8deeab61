"""Point-in-time news retrieval for predictions: nothing published at or after the cut-off.

Vector search in Milvus first (filtered by stock code and publish time); when vectors are
unavailable, the most recent linked news from Postgres. Either way the rows are re-read
from Postgres with the cut-off applied again, so a stale or wrong vector index can never
leak a future article into a prediction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.news.models import News, NewsStock

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetrievedNews:
    items: list[News]
    method: Literal["vector", "recent"]


def _recent_for_stock(*, db_session: Session, stock_code: str, published_before: datetime, k: int) -> list[News]:
    query = (
        select(News)
        .join(NewsStock, NewsStock.news_id == News.id)
        .where(NewsStock.stock_code == stock_code, News.published_at < published_before)
        .order_by(News.published_at.desc(), News.id.desc())
        .limit(k)
    )
    return list(db_session.scalars(query))


def retrieve_for_stock(
    *, db_session: Session, stock_code: str, query_text: str, published_before: datetime, k: int
) -> RetrievedNews:
    if k <= 0:
        return RetrievedNews([], "recent")
    try:
        from shared.llm.embeddings import get_embedder
        from shared.stores.milvus import get_news_store

        embedder = get_embedder()
        store = get_news_store(embedder.name, embedder.dimension)
        hits = store.search(
            embedder.embed([query_text])[0], limit=k, stock_code=stock_code, published_before=published_before
        )
    except Exception as exc:  # any vector-side failure degrades to recency, never fails the prediction
        log.warning("vector retrieval unavailable, using recent news", extra={"error": str(exc)[:300]})
        return RetrievedNews(
            _recent_for_stock(db_session=db_session, stock_code=stock_code, published_before=published_before, k=k),
            "recent",
        )
    if not hits:
        return RetrievedNews(
            _recent_for_stock(db_session=db_session, stock_code=stock_code, published_before=published_before, k=k),
            "recent",
        )
    ids = [hit.news_id for hit in hits]
    rows = db_session.scalars(select(News).where(News.id.in_(ids), News.published_at < published_before))
    by_id = {row.id: row for row in rows}
    return RetrievedNews([by_id[news_id] for news_id in ids if news_id in by_id], "vector")
