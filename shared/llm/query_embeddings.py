"""Embeddings of retrieval queries, kept in Redis.

A stock's retrieval query is the same text every day, for every model that reads news, and
across every container: embedding it once (an OpenAI round trip per predict batch, paid
again by each news-reading model) is enough. Vectors are stored as float32, what the API
sends anyway. Redis unavailable: the texts are embedded directly, as without the cache.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from array import array
from typing import TYPE_CHECKING

from shared.lazy_module import lazy_module
from shared.llm.embeddings import Embedder
from shared.stores.redis import KEY_PREFIX, get_redis

if TYPE_CHECKING:
    import redis
else:
    redis = lazy_module("redis")

log = logging.getLogger(__name__)

TTL_SECONDS = 30 * 24 * 3600


def _key(embedder: Embedder, text: str) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    return f"{KEY_PREFIX}qemb:{embedder.name}:{embedder.dimension}:{digest}"


def _encode(vector: list[float]) -> str:
    # The shared client decodes replies as text: float32 bytes travel as base64.
    return base64.b64encode(array("f", vector).tobytes()).decode("ascii")


def _decode(raw: str | bytes) -> list[float]:
    return array("f", base64.b64decode(raw)).tolist()


def embed_queries(embedder: Embedder, texts: list[str]) -> list[list[float]]:
    """The texts' embeddings, in order; only those never embedded before reach the embedder."""
    if not texts:
        return []
    keys = [_key(embedder, text) for text in texts]
    try:
        stored = get_redis().mget(keys)
    except redis.RedisError as exc:
        log.warning("query embedding cache unavailable; embedding directly", extra={"error": str(exc)})
        return embedder.embed(texts)
    vectors: list[list[float] | None] = [None if raw is None else _decode(raw) for raw in stored]
    missing = [index for index, vector in enumerate(vectors) if vector is None]
    if missing:
        fresh = embedder.embed([texts[index] for index in missing])
        try:
            pipeline = get_redis().pipeline(transaction=False)
            for index, vector in zip(missing, fresh, strict=True):
                pipeline.set(keys[index], _encode(vector), ex=TTL_SECONDS)
            pipeline.execute()
        except redis.RedisError as exc:
            log.warning("could not cache query embeddings", extra={"error": str(exc)})
        for index, vector in zip(missing, fresh, strict=True):
            vectors[index] = vector
    return [vector for vector in vectors if vector is not None]
