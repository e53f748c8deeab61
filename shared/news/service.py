"""News items, their stock links, and the embedding outbox: the only writer of these tables.

A news item is identified by its original URL and never rewritten once stored: its
embedding was computed from the stored text. The outbox is the `embedding_status` column:
`pending` rows are embedded by crawl's embed job, marked `done` only after Milvus holds
their vector, and retried on the next run otherwise (`failed` after too many attempts).
Bulk functions leave the commit to the caller's unit of work.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from shared.news.models import EmbeddingStatus, News, NewsStock
from shared.sources.records import NewsRecord

UPSERT_CHUNK_ROWS = 500
MAX_ERROR_CHARS = 1000


@dataclass(frozen=True, slots=True)
class NewsUpsert:
    inserted: int
    unchanged: int
    ids_by_url: dict[str, int]


def get(*, db_session: Session, news_id: int) -> News | None:
    return db_session.get(News, news_id)


def get_many(*, db_session: Session, ids: Sequence[int]) -> list[News]:
    """The news with these ids, in the order asked (unknown ids are left out)."""
    if not ids:
        return []
    found = {news.id: news for news in db_session.scalars(select(News).where(News.id.in_(set(ids))))}
    return [found[news_id] for news_id in ids if news_id in found]


def existing_urls(*, db_session: Session, urls: Iterable[str]) -> set[str]:
    wanted = set(urls)
    if not wanted:
        return set()
    return set(db_session.scalars(select(News.url).where(News.url.in_(wanted))))


def stock_codes_for(*, db_session: Session, news_ids: Iterable[int]) -> dict[int, list[str]]:
    ids = set(news_ids)
    codes: dict[int, list[str]] = {news_id: [] for news_id in ids}
    if not ids:
        return codes
    query = select(NewsStock.news_id, NewsStock.stock_code).where(NewsStock.news_id.in_(ids))
    for news_id, code in db_session.execute(query.order_by(NewsStock.news_id, NewsStock.stock_code)):
        codes[news_id].append(code)
    return codes


def upsert_news(*, db_session: Session, records: Sequence[NewsRecord]) -> NewsUpsert:
    """Store new items (pending embedding); items already stored are left as they are."""
    by_url = {record.url: record for record in records}
    rows = [
        {
            "url": r.url,
            "title": r.title,
            "summary": r.summary,
            "source": r.source,
            "published_at": r.published_at,
        }
        for r in by_url.values()
    ]
    ids_by_url: dict[str, int] = {}
    statement = pg_insert(News).on_conflict_do_nothing(index_elements=[News.url]).returning(News.url, News.id)
    for start in range(0, len(rows), UPSERT_CHUNK_ROWS):
        chunk = rows[start : start + UPSERT_CHUNK_ROWS]
        ids_by_url.update({url: news_id for url, news_id in db_session.execute(statement.values(chunk))})
    inserted = len(ids_by_url)
    already = [url for url in by_url if url not in ids_by_url]
    if already:
        ids_by_url.update(
            {
                url: news_id
                for url, news_id in db_session.execute(select(News.url, News.id).where(News.url.in_(already)))
            }
        )
    return NewsUpsert(inserted=inserted, unchanged=len(rows) - inserted, ids_by_url=ids_by_url)


def link_stocks(*, db_session: Session, links: Iterable[tuple[int, str]]) -> int:
    """(news id, stock code) pairs; returns how many links are new."""
    rows = [{"news_id": news_id, "stock_code": code} for news_id, code in sorted(set(links))]
    if not rows:
        return 0
    statement = pg_insert(NewsStock).on_conflict_do_nothing().returning(NewsStock.news_id)
    created = 0
    for start in range(0, len(rows), UPSERT_CHUNK_ROWS):
        created += len(db_session.execute(statement.values(rows[start : start + UPSERT_CHUNK_ROWS])).all())
    return created


# --- embedding outbox -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PendingEmbedding:
    news_id: int
    title: str
    summary: str
    published_at: datetime
    stock_codes: list[str]

    @property
    def text(self) -> str:
        """What gets embedded: the headline and the snippet."""
        return f"{self.title}\n{self.summary}".strip()


def claim_pending_embeddings(*, db_session: Session, limit: int) -> list[PendingEmbedding]:
    """The oldest pending items with their stock codes, in one round trip, locked for this
    transaction (`SKIP LOCKED`: a concurrent run takes the next ones instead of waiting).
    """
    codes = (
        select(func.array_agg(aggregate_order_by(NewsStock.stock_code, NewsStock.stock_code)))
        .where(NewsStock.news_id == News.id)
        .scalar_subquery()
    )
    query = (
        select(News.id, News.title, News.summary, News.published_at, codes)
        .where(News.embedding_status == EmbeddingStatus.PENDING)
        .order_by(News.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=News)
    )
    return [
        PendingEmbedding(
            news_id=row[0], title=row[1], summary=row[2], published_at=row[3], stock_codes=list(row[4] or [])
        )
        for row in db_session.execute(query)
    ]


def count_pending_embeddings(*, db_session: Session) -> int:
    query = select(func.count()).select_from(News).where(News.embedding_status == EmbeddingStatus.PENDING)
    return int(db_session.scalar(query) or 0)


def mark_embedded(*, db_session: Session, ids: Sequence[int], model: str, at: datetime | None = None) -> int:
    if not ids:
        return 0
    result = db_session.execute(
        update(News)
        .where(News.id.in_(ids))
        .values(
            embedding_status=EmbeddingStatus.DONE,
            embedding_model=model,
            embedded_at=at or datetime.now(UTC),
            embedding_error=None,
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def mark_embedding_failed(*, db_session: Session, ids: Sequence[int], error: str, max_attempts: int | None) -> int:
    """Count a failed attempt; rows reaching `max_attempts` become `failed`. Returns how many did.

    `max_attempts=None` records the attempt without ever giving up (an outage, not the items' fault).
    """
    if not ids:
        return 0
    attempts = News.embedding_attempts + 1
    values: dict[str, Any] = {"embedding_attempts": attempts, "embedding_error": error[:MAX_ERROR_CHARS]}
    if max_attempts is not None:
        values["embedding_status"] = case(
            (attempts >= max_attempts, EmbeddingStatus.FAILED.value), else_=EmbeddingStatus.PENDING.value
        )
    db_session.execute(
        update(News)
        .where(News.id.in_(ids), News.embedding_status == EmbeddingStatus.PENDING)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    query = select(News.id).where(News.id.in_(ids), News.embedding_status == EmbeddingStatus.FAILED)
    return len(db_session.scalars(query).all())


def requeue_failed_embeddings(*, db_session: Session) -> int:
    """Give `failed` items another chance (after the cause was fixed); ops use."""
    result = db_session.execute(
        update(News)
        .where(News.embedding_status == EmbeddingStatus.FAILED)
        .values(embedding_status=EmbeddingStatus.PENDING, embedding_attempts=0)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
