"""News as the API shows it, and the news search response."""

from __future__ import annotations

from typing import Literal

from shared.api.schema_base import Page, ReadModel, UtcDateTime


class NewsRead(ReadModel):
    id: int
    url: str
    title: str
    summary: str
    source: str
    published_at: UtcDateTime


class NewsWithStocksRead(NewsRead):
    stock_codes: list[str] = []


class NewsPagination(Page[NewsRead]):
    """A page of news items; a named subclass gives its OpenAPI schema a readable name."""


class NewsSearchHit(NewsWithStocksRead):
    score: float


class NewsSearchResponse(ReadModel):
    query: str
    stock_code: str | None
    method: Literal["vector", "fulltext"]
    # Why the vector search was not used, when it was not (e.g. Milvus unreachable).
    fallback_reason: str | None = None
    items: list[NewsSearchHit]
