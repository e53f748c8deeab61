"""Users: admins manage accounts; every user manages their own profile and watchlist."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status

from shared.api.deps import AdminUser, CurrentUser, IntId, PaginationDep, SessionDep, require_admin
from shared.api.errors import NotFoundError, error_responses
from shared.users import service as user_service
from shared.users.models import Role, User
from shared.users.schemas import (
    PasswordChange,
    UserCreate,
    UserPagination,
    UserProfileUpdate,
    UserRead,
    UserRoleUpdate,
    WatchlistItemCreate,
    WatchlistItemRead,
    WatchlistRead,
)

router = APIRouter(prefix="/api/users", tags=["users"], responses=error_responses(401, 422))
admin_only = [Depends(require_admin)]


# --- the signed-in user (declared before /{user_id}, which would otherwise shadow /me) ----


@router.get("/me", response_model=UserRead)
async def read_me(user: CurrentUser) -> UserRead:
    return UserRead.model_validate(user)


@router.patch("/me", response_model=UserRead)
async def update_me(profile_in: UserProfileUpdate, user: CurrentUser, db_session: SessionDep) -> UserRead:
    """Name, Telegram chat id, notification switch and minimum probability for alerts."""
    updated = user_service.update_profile(db_session=db_session, user=user, profile_in=profile_in)
    return UserRead.model_validate(updated)


@router.post("/me/password", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(400, 422))
async def change_my_password(body: PasswordChange, user: CurrentUser, db_session: SessionDep) -> None:
    """Signs out every session's refresh token; the current access token runs out on its own."""
    user_service.change_password(
        db_session=db_session, user=user, current_password=body.current_password, new_password=body.new_password
    )


def _watchlist(db_session: SessionDep, user: User) -> WatchlistRead:
    rows = user_service.get_watchlist(db_session=db_session, user_id=user.id)
    return WatchlistRead(
        items=[
            WatchlistItemRead(
                stock_code=item.stock_code, stock_name=stock.name, market=stock.market.value, created_at=item.created_at
            )
            for item, stock in rows
        ]
    )


@router.get("/me/watchlist", response_model=WatchlistRead)
async def read_my_watchlist(user: CurrentUser, db_session: SessionDep) -> WatchlistRead:
    return _watchlist(db_session, user)


@router.post("/me/watchlist", response_model=WatchlistRead, responses=error_responses(404))
async def add_to_my_watchlist(
    item: WatchlistItemCreate, user: CurrentUser, db_session: SessionDep, response: Response
) -> WatchlistRead:
    """Idempotent: 201 when added, 200 when the stock was already on the list."""
    added = user_service.add_to_watchlist(db_session=db_session, user_id=user.id, stock_code=item.stock_code)
    response.status_code = status.HTTP_201_CREATED if added else status.HTTP_200_OK
    return _watchlist(db_session, user)


@router.delete("/me/watchlist/{stock_code}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404))
async def remove_from_my_watchlist(
    stock_code: Annotated[str, Path(pattern=r"^[0-9A-Za-z]{6}$")], user: CurrentUser, db_session: SessionDep
) -> None:
    code = stock_code.upper()
    if not user_service.remove_from_watchlist(db_session=db_session, user_id=user.id, stock_code=code):
        raise NotFoundError(f"stock {code} is not on your watchlist")


# --- administration ------------------------------------------------------------------


@router.get("", response_model=UserPagination, dependencies=admin_only, responses=error_responses(403))
async def list_users(
    db_session: SessionDep,
    page: PaginationDep,
    q: Annotated[str | None, Query(max_length=100, description="part of the email or name")] = None,
    role: Role | None = None,
    active: bool | None = None,
) -> UserPagination:
    users, total = user_service.get_all(
        db_session=db_session, q=q, role=role, active=active, limit=page.limit, offset=page.offset
    )
    return UserPagination(
        items=[UserRead.model_validate(user) for user in users], total=total, limit=page.limit, offset=page.offset
    )


@router.post(
    "",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    dependencies=admin_only,
    responses=error_responses(403, 409),
)
async def create_user(user_in: UserCreate, db_session: SessionDep) -> UserRead:
    return UserRead.model_validate(user_service.create(db_session=db_session, user_in=user_in))


def _user_or_404(db_session: SessionDep, user_id: int) -> User:
    user = user_service.get(db_session=db_session, user_id=user_id)
    if user is None:
        raise NotFoundError(f"user {user_id} not found")
    return user


@router.get("/{user_id}", response_model=UserRead, dependencies=admin_only, responses=error_responses(403, 404))
async def read_user(user_id: IntId, db_session: SessionDep) -> UserRead:
    return UserRead.model_validate(_user_or_404(db_session, user_id))


@router.put("/{user_id}/role", response_model=UserRead, responses=error_responses(403, 404, 409))
async def change_role(user_id: IntId, body: UserRoleUpdate, admin: AdminUser, db_session: SessionDep) -> UserRead:
    """409 when it would leave no active admin."""
    user = _user_or_404(db_session, user_id)
    return UserRead.model_validate(user_service.set_role(db_session=db_session, user=user, role=body.role))


@router.post("/{user_id}/activate", response_model=UserRead, responses=error_responses(403, 404))
async def activate_user(user_id: IntId, admin: AdminUser, db_session: SessionDep) -> UserRead:
    user = _user_or_404(db_session, user_id)
    return UserRead.model_validate(user_service.set_active(db_session=db_session, user=user, active=True))


@router.post("/{user_id}/deactivate", response_model=UserRead, responses=error_responses(403, 404, 409))
async def deactivate_user(user_id: IntId, admin: AdminUser, db_session: SessionDep) -> UserRead:
    """Signs the user out everywhere at once: their tokens stop working. 409 for the last admin."""
    user = _user_or_404(db_session, user_id)
    return UserRead.model_validate(user_service.set_active(db_session=db_session, user=user, active=False))
