"""The embedding outbox: pending news → embedder → Milvus, marked done only after Milvus has them.

Failures are of two kinds. The vector store being down (or the embedder's service) says
nothing about the items: they stay pending with the attempt and error recorded, however
often it happens — a Milvus outage loses nothing. An embedder refusing the items
themselves counts toward `embed_max_attempts`, after which they are `failed` (so one
poison batch cannot block the queue forever). Either way the run stops at the first
failed batch and reports failure: the next scheduled run resumes where this one stopped.

pymilvus and openai are imported here, lazily, and only the embed job imports this module.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from shared.db.session import session_scope
from shared.ingestion.options import CrawlOptions
from shared.jobs.service import JobCounts
from shared.llm.embeddings import Embedder, get_embedder
from shared.news import service as news_service

log = logging.getLogger(__name__)


class EmbeddingBatchError(RuntimeError):
    """A batch could not be embedded or stored; its items stay in the outbox."""


class _StoreFailure(Exception):
    """Milvus refused a batch: a store outage, retried next run, never counted against the items."""


def _is_item_error(exc: BaseException) -> bool:
    """An embedder refusing these inputs (HTTP 400-class), as opposed to being unreachable."""
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and 400 <= status < 500 and status not in (401, 403, 408, 409, 429)


def _upsert_vectors(embedder: Embedder, vectors: list[Any]) -> None:
    """Upsert, reconnecting once: a client cached across an outage may hold a dead connection."""
    from shared.stores.milvus import get_news_store, reset_milvus

    try:
        get_news_store(embedder.name, embedder.dimension).upsert(vectors)
        return
    except Exception as exc:
        log.info("milvus upsert failed; reconnecting once", extra={"error": f"{type(exc).__name__}: {exc}"[:300]})
        reset_milvus()
    try:
        get_news_store(embedder.name, embedder.dimension).upsert(vectors)
    except Exception as exc:
        reset_milvus()  # the next run starts from a fresh client too
        raise _StoreFailure(f"{type(exc).__name__}: {exc}") from exc


def ingest_embeddings(*, counts: JobCounts, options: CrawlOptions, embedder: Embedder | None = None) -> dict[str, Any]:
    from shared.stores.milvus import NewsVector

    embedder = embedder or get_embedder()
    timings = {"embed_seconds": 0.0, "milvus_seconds": 0.0}
    processed = 0
    failure: EmbeddingBatchError | None = None
    while processed < options.embed_max_items_per_run and failure is None:
        with session_scope() as db_session:
            batch = news_service.claim_pending_embeddings(
                db_session=db_session, limit=min(options.embed_batch_size, options.embed_max_items_per_run - processed)
            )
            if not batch:
                break
            ids = [item.news_id for item in batch]
            processed += len(batch)
            counts["fetched"] += len(batch)
            try:
                started = time.perf_counter()
                embeddings = embedder.embed([item.text for item in batch])
                timings["embed_seconds"] += time.perf_counter() - started
                if len(embeddings) != len(batch):
                    raise ValueError(f"embedder returned {len(embeddings)} vectors for {len(batch)} texts")
                vectors = [
                    NewsVector(
                        news_id=item.news_id,
                        embedding=vector,
                        stock_codes=item.stock_codes,
                        published_at=item.published_at,
                    )
                    for item, vector in zip(batch, embeddings, strict=True)
                ]
                started = time.perf_counter()
                try:
                    _upsert_vectors(embedder, vectors)
                finally:
                    timings["milvus_seconds"] += time.perf_counter() - started
            except Exception as exc:
                cause = exc.__cause__ if isinstance(exc, _StoreFailure) and exc.__cause__ else exc
                item_error = not isinstance(exc, _StoreFailure) and _is_item_error(exc)
                error = f"{'milvus' if isinstance(exc, _StoreFailure) else 'embedder'}: {type(cause).__name__}: {cause}"
                failed = news_service.mark_embedding_failed(
                    db_session=db_session,
                    ids=ids,
                    error=error,
                    max_attempts=options.embed_max_attempts if item_error else None,
                )
                counts["failed"] += len(ids)
                counts["gave_up"] += failed
                log.warning(
                    "embedding batch failed; items stay in the outbox", extra={"items": len(ids), "error": error}
                )
                failure = EmbeddingBatchError(f"{len(ids)} item(s) not embedded: {error}"[:1000])
                continue
            news_service.mark_embedded(db_session=db_session, ids=ids, model=embedder.name)
            counts["embedded"] += len(ids)
    with session_scope() as db_session:
        remaining = news_service.count_pending_embeddings(db_session=db_session)
    details = {
        "embedder": embedder.name,
        "dimension": embedder.dimension,
        "pending_after": remaining,
        **{name: round(value, 3) for name, value in timings.items()},
    }
    if failure is not None:
        raise failure
    return details
