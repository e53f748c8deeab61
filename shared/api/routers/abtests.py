"""A/B tests with per-variant statistics; admins create, start, stop and declare winners."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from shared.abtest import service as abtest_service
from shared.abtest.models import AbTest, AbTestStatus
from shared.abtest.schemas import AbTestCreate, AbTestPagination, AbTestRead, AbWinnerDeclare
from shared.api.deps import IntId, PaginationDep, SessionDep, get_principal, require_admin
from shared.api.errors import NotFoundError, error_responses

router = APIRouter(
    prefix="/api/ab-test",
    tags=["ab-test"],
    dependencies=[Depends(get_principal)],
    responses=error_responses(401, 422),
)
admin_only = [Depends(require_admin)]


async def ab_test_or_404(test_id: IntId, db_session: SessionDep) -> AbTest:
    test = abtest_service.get(db_session=db_session, ab_test_id=test_id)
    if test is None:
        raise NotFoundError(f"A/B test {test_id} not found")
    return test


ValidAbTest = Annotated[AbTest, Depends(ab_test_or_404)]


def _read(db_session: SessionDep, test: AbTest) -> AbTestRead:
    return abtest_service.describe(db_session=db_session, tests=[test])[0]


@router.get("", response_model=AbTestPagination)
async def list_ab_tests(
    db_session: SessionDep, page: PaginationDep, status: AbTestStatus | None = None
) -> AbTestPagination:
    """Newest first, each with variant sample sizes, hit rates and the comparison to control."""
    tests, total = abtest_service.get_all(db_session=db_session, status=status, limit=page.limit, offset=page.offset)
    return AbTestPagination(
        items=abtest_service.describe(db_session=db_session, tests=tests),
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{test_id}", response_model=AbTestRead, responses=error_responses(404))
async def read_ab_test(test: ValidAbTest, db_session: SessionDep) -> AbTestRead:
    return _read(db_session, test)


@router.post(
    "",
    response_model=AbTestRead,
    status_code=status.HTTP_201_CREATED,
    dependencies=admin_only,
    responses=error_responses(403, 404, 409),
)
async def create_ab_test(ab_test_in: AbTestCreate, db_session: SessionDep) -> AbTestRead:
    """A draft; the first variant is the control. Weights set each variant's share of stocks."""
    return _read(db_session, abtest_service.create(db_session=db_session, ab_test_in=ab_test_in))


@router.post(
    "/{test_id}/start", response_model=AbTestRead, dependencies=admin_only, responses=error_responses(403, 404, 409)
)
async def start_ab_test(test: ValidAbTest, db_session: SessionDep) -> AbTestRead:
    return _read(db_session, abtest_service.start(db_session=db_session, test=test))


@router.post(
    "/{test_id}/stop", response_model=AbTestRead, dependencies=admin_only, responses=error_responses(403, 404, 409)
)
async def stop_ab_test(test: ValidAbTest, db_session: SessionDep) -> AbTestRead:
    return _read(db_session, abtest_service.stop(db_session=db_session, test=test))


@router.post(
    "/{test_id}/winner", response_model=AbTestRead, dependencies=admin_only, responses=error_responses(403, 404, 409)
)
async def declare_winner(test: ValidAbTest, body: AbWinnerDeclare, db_session: SessionDep) -> AbTestRead:
    """Stops a running test; by default the winner's model becomes the champion."""
    updated = abtest_service.declare_winner(
        db_session=db_session,
        test=test,
        variant_id=body.variant_id,
        promote_to_champion=body.promote_to_champion,
        force=body.force,
    )
    return _read(db_session, updated)
