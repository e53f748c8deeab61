"""Text embedders: OpenAI's when a key is configured, otherwise a local one that needs no network.

The local embedder hashes character n-grams into a fixed-size unit vector: crude, but
deterministic, free and good enough for same-topic retrieval in Korean headlines, so the
system runs end to end without an OpenAI key. Each embedder has a name and dimension,
which choose its own Milvus collection.
"""

from __future__ import annotations

import hashlib
import math
import re
from functools import lru_cache
from typing import Protocol

from shared.config import Settings, get_settings

_TOKEN = re.compile(r"[0-9A-Za-z가-힣]+")


class Embedder(Protocol):
    name: str
    dimension: int

    def embed(self, texts: list[str]) -> list[list[float]]: ...


class LocalHashEmbedder:
    def __init__(self, dimension: int) -> None:
        self.name = "local_hash"
        self.dimension = dimension

    def _features(self, text: str) -> list[str]:
        features: list[str] = []
        for token in _TOKEN.findall(text.lower()):
            features.append(f"w:{token}")
            padded = f"^{token}$"
            features.extend(f"g:{padded[i : i + 2]}" for i in range(len(padded) - 1))
        return features

    def embed(self, texts: list[str]) -> list[list[float]]:
        vectors = []
        for text in texts:
            vector = [0.0] * self.dimension
            for feature in self._features(text):
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dimension
                sign = 1.0 if digest[4] & 1 else -1.0
                vector[bucket] += sign
            norm = math.sqrt(sum(value * value for value in vector)) or 1.0
            vectors.append([value / norm for value in vector])
        return vectors


class OpenAIEmbedder:
    """text-embedding-3-* through the official SDK (imported only when this embedder is used)."""

    def __init__(self, settings: Settings) -> None:
        from openai import OpenAI

        self.name = settings.openai_embedding_model
        self.dimension = settings.openai_embedding_dimensions
        self._client = OpenAI(
            api_key=settings.require("openai_api_key"),
            base_url=settings.openai_base_url,
            timeout=settings.http_timeout_seconds * 3,
            max_retries=settings.http_max_attempts,
        )

    def embed(self, texts: list[str]) -> list[list[float]]:
        inputs = [text.strip() or "-" for text in texts]  # the API refuses empty strings
        # The SDK's default wire format (base64, decoded by the SDK) is several times cheaper
        # to parse than a JSON list of floats.
        response = self._client.embeddings.create(model=self.name, input=inputs, dimensions=self.dimension)
        ordered = sorted(response.data, key=lambda item: item.index)
        return [list(item.embedding) for item in ordered]


def build_embedder(settings: Settings) -> Embedder:
    if settings.llm_enabled:
        return OpenAIEmbedder(settings)
    return LocalHashEmbedder(settings.local_embedding_dimensions)


@lru_cache(maxsize=1)
def get_embedder() -> Embedder:
    """The container's embedder, built once (the OpenAI one holds a client and its TLS context)."""
    return build_embedder(get_settings())


def reset_embedder() -> None:
    get_embedder.cache_clear()
