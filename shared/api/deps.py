"""Dependencies every router shares: the database session, the caller, pagination.

Permission levels are dependencies: anonymous (nothing), `CurrentUser` (any active
user), `AdminUser` / `dependencies=[Depends(require_admin)]` (admins only).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer
from sqlalchemy.orm import Session

from shared.api.errors import ForbiddenError, UnauthorizedError
from shared.config import get_settings
from shared.db.session import get_sessionmaker
from shared.users import tokens
from shared.users.models import Role, User
from shared.users.security import InvalidTokenError

TOKEN_URL = "/api/auth/token"

# Two ways to present the same bearer token in the OpenAPI UI: the OAuth2 password form
# (the "Authorize" button signs in) or pasting a token. Either satisfies a route.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)
bearer_scheme = HTTPBearer(auto_error=False, bearerFormat="JWT")


def _finish(session: Session, *, succeeded: bool) -> None:
    try:
        if succeeded:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


async def get_db_session() -> AsyncIterator[Session]:
    """One session per request; rolled back on error, committed before the response is sent.

    Async on purpose: opening a session does no I/O, and every hop to the threadpool costs
    a thread handoff (under Mangum, a new worker thread per invocation). The blocking end of
    the unit of work runs in the threadpool, in one hop.
    """
    session = get_sessionmaker()()
    try:
        yield session
    except BaseException:
        await run_in_threadpool(_finish, session, succeeded=False)
        raise
    await run_in_threadpool(_finish, session, succeeded=True)


# scope="function": commit happens before the response leaves, so a 2xx means it is saved.
SessionDep = Annotated[Session, Depends(get_db_session, scope="function")]


def get_current_user(
    db_session: SessionDep,
    oauth_token: Annotated[str | None, Depends(oauth2_scheme)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> User:
    token = oauth_token or (bearer.credentials if bearer is not None else None)
    if not token:
        raise UnauthorizedError("not authenticated")
    try:
        return tokens.user_for_access_token(db_session=db_session, token=token)
    except InvalidTokenError as exc:
        raise UnauthorizedError("invalid or expired token", code="invalid_token") from exc


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_admin(user: CurrentUser) -> User:
    if user.role != Role.ADMIN:
        raise ForbiddenError("admin role required")
    return user


AdminUser = Annotated[User, Depends(require_admin)]


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    offset: int


# The dependencies below do no I/O: async, so they run on the loop without a thread hop.
async def pagination(
    limit: Annotated[int, Query(ge=1, description="page size; capped at the server's page_limit_max")] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> PageParams:
    return PageParams(limit=min(limit, get_settings().page_limit_max), offset=offset)


PaginationDep = Annotated[PageParams, Depends(pagination)]


async def client_ip(request: Request) -> str:
    """The caller's address: API Gateway's sourceIp when behind it, else the socket peer."""
    event = request.scope.get("aws.event")
    if isinstance(event, dict):
        source_ip = event.get("requestContext", {}).get("http", {}).get("sourceIp")
        if source_ip:
            return str(source_ip)
    return request.client.host if request.client else "unknown"


ClientIp = Annotated[str, Depends(client_ip)]

# Path ids sized to their columns, so an absurd id is a 422, not a database overflow.
IntId = Annotated[int, Path(ge=1, le=2_147_483_647)]
BigId = Annotated[int, Path(ge=1, le=9_223_372_036_854_775_807)]
StockCodePath = Annotated[str, Path(pattern=r"^[0-9A-Za-z]{6}$", description="6-character KRX short code")]
