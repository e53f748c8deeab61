"""Retrieval queries are embedded once, then read from Redis (by any container, any day)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shared.llm.embeddings import LocalHashEmbedder


class CountingEmbedder(LocalHashEmbedder):
    def __init__(self) -> None:
        super().__init__(16)
        self.embedded: list[str] = []

    def embed(self, texts: list[str]) -> list[list[float]]:
        self.embedded.extend(texts)
        return super().embed(texts)


def test_only_texts_never_embedded_reach_the_embedder(redis_client: Any) -> None:
    from shared.llm.query_embeddings import embed_queries

    embedder = CountingEmbedder()
    first = embed_queries(embedder, ["삼성전자 주가 실적 전망", "NAVER 주가 실적 전망"])
    again = embed_queries(embedder, ["NAVER 주가 실적 전망", "카카오 주가 실적 전망", "삼성전자 주가 실적 전망"])
    assert embedder.embedded == ["삼성전자 주가 실적 전망", "NAVER 주가 실적 전망", "카카오 주가 실적 전망"]
    # Stored as float32: the same vectors to float32 precision, in the asked order.
    assert again[0] == pytest.approx(first[1], abs=1e-6)
    assert again[2] == pytest.approx(first[0], abs=1e-6)
    assert again[1] == pytest.approx(LocalHashEmbedder(16).embed(["카카오 주가 실적 전망"])[0], abs=1e-6)


def test_another_embedder_does_not_read_these_vectors(redis_client: Any) -> None:
    from shared.llm.query_embeddings import embed_queries

    embed_queries(CountingEmbedder(), ["삼성전자 주가 실적 전망"])
    other = CountingEmbedder()
    other.dimension = 32  # another model or size: another key
    other.embed = lambda texts: [[0.0] * 32 for _ in texts]  # type: ignore[method-assign]
    assert embed_queries(other, ["삼성전자 주가 실적 전망"]) == [[0.0] * 32]


def test_without_redis_the_texts_are_embedded_directly(settings_env: Callable[..., Any]) -> None:
    from shared.llm.query_embeddings import embed_queries

    settings_env(REDIS_URL="redis://127.0.0.1:1/0")
    embedder = CountingEmbedder()
    assert len(embed_queries(embedder, ["a b", "c d"])) == 2
    assert embedder.embedded == ["a b", "c d"]
