"""Milvus: one vector per news item, with stock codes and publish time for filtered search.

`MILVUS_URI` is a file path for Milvus Lite (tests, local) or `http://…` for a server.
The collection's name records the embedder and dimension, so vectors from two embedders
never mix in one collection. pymilvus is imported here only: ~400 ms of cold start that
functions without vector work must not pay.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from shared.config import get_settings, hidden_from_third_party

with hidden_from_third_party("MILVUS_URI"):
    from pymilvus import DataType, MilvusClient, MilvusException

MAX_STOCKS_PER_ITEM = 32


@dataclass(frozen=True, slots=True)
class NewsVector:
    news_id: int
    embedding: list[float]
    stock_codes: list[str]
    published_at: datetime


@dataclass(frozen=True, slots=True)
class NewsHit:
    news_id: int
    score: float
    stock_codes: tuple[str, ...] = ()


def collection_name(embedder_name: str, dimension: int) -> str:
    safe = "".join(ch if ch.isalnum() else "_" for ch in embedder_name)
    return f"{get_settings().milvus_collection_prefix}_{safe}_{dimension}"


class NewsVectorStore:
    def __init__(self, client: MilvusClient, *, collection: str, dimension: int) -> None:
        self.client = client
        self.collection = collection
        self.dimension = dimension
        self._ready = False
        self._lock = threading.Lock()

    def ensure_collection(self) -> None:
        with self._lock:
            if self._ready:
                return
            if not self.client.has_collection(self.collection):
                try:
                    self._create_collection()
                except MilvusException:
                    # Concurrent Lambdas on an empty Milvus: another one created it first.
                    if not self.client.has_collection(self.collection):
                        raise
                    self._load_if_released()
            else:
                self._load_if_released()
            self._ready = True

    def _create_collection(self) -> None:
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=self.dimension)
        schema.add_field(
            "stock_codes",
            DataType.ARRAY,
            element_type=DataType.VARCHAR,
            max_capacity=MAX_STOCKS_PER_ITEM,
            max_length=6,
        )
        schema.add_field("published_at", DataType.INT64)
        index_params = self.client.prepare_index_params()
        index_params.add_index(field_name="embedding", index_type="AUTOINDEX", metric_type="COSINE")
        self.client.create_collection(self.collection, schema=schema, index_params=index_params)

    def _load_if_released(self) -> None:
        # A collection made by an earlier process is released until someone loads it;
        # a fresh container must load it before its first search.
        state = self.client.get_load_state(self.collection).get("state")
        if str(state).rsplit(".", 1)[-1] != "Loaded":
            self.client.load_collection(self.collection)

    def upsert(self, vectors: list[NewsVector]) -> int:
        if not vectors:
            return 0
        self.ensure_collection()
        rows = [
            {
                "id": vector.news_id,
                "embedding": vector.embedding,
                "stock_codes": vector.stock_codes[:MAX_STOCKS_PER_ITEM],
                "published_at": int(vector.published_at.timestamp()),
            }
            for vector in vectors
        ]
        result = self.client.upsert(self.collection, rows)
        return int(result.get("upsert_count", len(rows))) if isinstance(result, dict) else len(rows)

    def search(
        self,
        embedding: list[float],
        *,
        limit: int,
        stock_code: str | None = None,
        published_before: datetime | None = None,
    ) -> list[NewsHit]:
        """Nearest news, optionally only one stock's and only what was public before a cut-off."""
        codes = [stock_code] if stock_code is not None else None
        return self.search_many([embedding], limit=limit, stock_codes=codes, published_before=published_before)[0]

    def search_many(
        self,
        embeddings: list[list[float]],
        *,
        limit: int,
        stock_codes: list[str] | None = None,
        published_before: datetime | None = None,
    ) -> list[list[NewsHit]]:
        """One round trip for many query vectors under one filter (any of `stock_codes`).

        Each call carries a fixed cost (hundreds of ms on Milvus Lite), so a batch of stocks
        asks once; callers split the hits per stock with `NewsHit.stock_codes`.
        """
        self.ensure_collection()
        clauses = []
        if stock_codes is not None:
            invalid = [code for code in stock_codes if not code.isalnum()]
            if invalid:
                raise ValueError(f"invalid stock codes {invalid!r}")
            quoted = ", ".join(f'"{code}"' for code in stock_codes)
            clauses.append(f"array_contains_any(stock_codes, [{quoted}])")
        if published_before is not None:
            clauses.append(f"published_at < {int(published_before.timestamp())}")
        results = self.client.search(
            self.collection,
            data=embeddings,
            filter=" and ".join(clauses),
            limit=limit,
            output_fields=["published_at", "stock_codes"],
        )
        return [
            [
                NewsHit(
                    news_id=int(hit["id"]),
                    score=float(hit["distance"]),
                    stock_codes=tuple(hit.get("entity", {}).get("stock_codes") or ()),
                )
                for hit in per_query
            ]
            for per_query in results
        ]

    def count(self) -> int:
        self.ensure_collection()
        stats: dict[str, Any] = self.client.get_collection_stats(self.collection)
        return int(stats.get("row_count", 0))


def _client_kwargs(uri: str) -> dict[str, Any]:
    settings = get_settings()
    if uri.startswith(("http://", "https://", "tcp://")):
        kwargs: dict[str, Any] = {"uri": uri, "timeout": 10}
        if settings.milvus_token is not None:
            kwargs["token"] = settings.milvus_token.get_secret_value()
        return kwargs
    path = Path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    return {"uri": str(path)}


@lru_cache(maxsize=1)
def get_milvus_client() -> MilvusClient:
    return MilvusClient(**_client_kwargs(get_settings().milvus_uri))


def reset_milvus() -> None:
    if get_milvus_client.cache_info().currsize:
        # Closing a broken client must not mask the caller's error: it is being discarded anyway.
        with contextlib.suppress(Exception):
            get_milvus_client().close()
    get_milvus_client.cache_clear()
    get_news_store.cache_clear()


@lru_cache(maxsize=4)
def get_news_store(embedder_name: str, dimension: int) -> NewsVectorStore:
    return NewsVectorStore(
        get_milvus_client(), collection=collection_name(embedder_name, dimension), dimension=dimension
    )


def milvus_health() -> tuple[bool, str]:
    """(reachable, server version) for /health."""
    try:
        client = get_milvus_client()
        version = client.get_server_version()
        client.list_collections()
        return True, str(version)
    except Exception as exc:  # any client failure means "down" to a health check
        return False, f"{type(exc).__name__}: {exc}"[:200]
