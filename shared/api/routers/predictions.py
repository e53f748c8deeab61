"""Predictions: filtered lists, each stock's latest call, and one call with its evidence."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from shared.api.deps import BigId, PaginationDep, SessionDep, get_principal
from shared.api.errors import NotFoundError, error_responses
from shared.predictions import queries
from shared.predictions.models import Direction, PredictionStatus
from shared.predictions.schemas import (
    PredictionDetail,
    PredictionFilters,
    PredictionPagination,
    PredictionSort,
)

router = APIRouter(
    prefix="/api/predictions",
    tags=["predictions"],
    responses=error_responses(401, 422),
    dependencies=[Depends(get_principal)],
)

StockQuery = Annotated[str | None, Query(alias="stock", pattern=r"^[0-9A-Za-z]{6}$", description="stock code")]
ModelQuery = Annotated[int | None, Query(alias="model_id", ge=1, le=2_147_483_647, description="model config id")]


async def prediction_filters(
    stock: StockQuery = None,
    model_id: ModelQuery = None,
    ab_variant_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    as_of_from: date | None = None,
    as_of_to: date | None = None,
    target_from: date | None = None,
    target_to: date | None = None,
    direction: Direction | None = None,
    status: PredictionStatus | None = None,
    min_probability: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    evaluated: bool | None = None,
) -> PredictionFilters:
    return PredictionFilters(
        stock_code=stock.upper() if stock else None,
        model_config_id=model_id,
        ab_variant_id=ab_variant_id,
        as_of_from=as_of_from,
        as_of_to=as_of_to,
        target_from=target_from,
        target_to=target_to,
        direction=direction,
        status=status,
        min_probability=min_probability,
        evaluated=evaluated,
    )


@router.get("", response_model=PredictionPagination)
async def list_predictions(
    db_session: SessionDep,
    page: PaginationDep,
    filters: Annotated[PredictionFilters, Depends(prediction_filters)],
    sort: PredictionSort = PredictionSort.TARGET_DATE_DESC,
) -> PredictionPagination:
    items, total = queries.list_predictions(
        db_session=db_session, filters=filters, sort=sort, limit=page.limit, offset=page.offset
    )
    return PredictionPagination.model_validate(
        {"items": items, "total": total, "limit": page.limit, "offset": page.offset}
    )


@router.get("/latest", response_model=PredictionPagination)
async def latest_predictions(
    db_session: SessionDep,
    page: PaginationDep,
    stock: StockQuery = None,
    model_id: ModelQuery = None,
) -> PredictionPagination:
    """Each stock's most recent prediction (champion model first when several share the date)."""
    items, total = queries.latest_per_stock(
        db_session=db_session,
        stock_code=stock.upper() if stock else None,
        model_config_id=model_id,
        limit=page.limit,
        offset=page.offset,
    )
    return PredictionPagination.model_validate(
        {"items": items, "total": total, "limit": page.limit, "offset": page.offset}
    )


@router.get("/{prediction_id}", response_model=PredictionDetail, responses=error_responses(404))
async def get_prediction(prediction_id: BigId, db_session: SessionDep) -> PredictionDetail:
    detail = queries.get_prediction_detail(db_session=db_session, prediction_id=prediction_id)
    if detail is None:
        raise NotFoundError(f"prediction {prediction_id} not found")
    return PredictionDetail.model_validate(detail)
