"""The home page's summary, from the Redis cache when it is warm."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from shared.api.deps import SessionDep, get_principal
from shared.api.errors import error_responses
from shared.dashboard import service as dashboard_service
from shared.dashboard.schemas import DashboardSummary

router = APIRouter(
    prefix="/api/dashboard", tags=["dashboard"], responses=error_responses(401), dependencies=[Depends(get_principal)]
)


@router.get("", response_model=DashboardSummary)
async def dashboard_summary(db_session: SessionDep) -> Any:
    """Top signals of the latest day, counts, per-model hit rate and Brier (7/30/90 days), movers."""
    return dashboard_service.get_summary(db_session=db_session)
