"""News search: semantic over Milvus vectors, with a Postgres text fallback."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from shared.api.deps import SessionDep, get_principal
from shared.api.errors import error_responses
from shared.news import queries as news_queries
from shared.news.schemas import NewsSearchResponse

router = APIRouter(
    prefix="/api/news",
    tags=["news"],
    dependencies=[Depends(get_principal)],
    responses=error_responses(401, 422),
)


@router.get("/search", response_model=NewsSearchResponse)
async def search_news(
    db_session: SessionDep,
    q: Annotated[str, Query(min_length=1, max_length=200, description="what the news is about")],
    stock: Annotated[str | None, Query(pattern=r"^[0-9A-Za-z]{6}$", description="only news naming this stock")] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> NewsSearchResponse:
    """`method` says whether vectors ("vector") or Postgres text search ("fulltext") answered."""
    query = q.strip()
    return news_queries.search(
        db_session=db_session, query=query or q, stock_code=stock.upper() if stock else None, limit=limit
    )
