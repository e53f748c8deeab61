"""Dependencies every router shares: the database session, the caller, pagination.

Permission levels are dependencies: anonymous (nothing); any active user as
`Authenticated` (the caller's id and role, from the published auth state: no user row
loaded) or `CurrentUser` (the user row, for routes that read or change it); admins only as
`dependencies=[Depends(require_admin)]`, or `AdminUser` where the admin's row is needed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer
from sqlalchemy.orm import Session

from shared.api.errors import ForbiddenError, UnauthorizedError
from shared.config import get_settings
from shared.db.session import end_read_only, get_sessionmaker, read_only_session
from shared.users import tokens
from shared.users.auth_state import Principal
from shared.users.models import Role, User
from shared.users.security import InvalidTokenError

TOKEN_URL = "/api/auth/token"

# Two ways to present the same bearer token in the OpenAPI UI: the OAuth2 password form
# (the "Authorize" button signs in) or pasting a token. Either satisfies a route.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)
bearer_scheme = HTTPBearer(auto_error=False, bearerFormat="JWT")


# Requests that only read run each statement as its own transaction (driver autocommit):
# no BEGIN before the first statement, no COMMIT after the last, two round trips saved.
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _finish(session: Session, *, succeeded: bool) -> None:
    try:
        if succeeded:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


async def get_db_session(request: Request) -> AsyncIterator[Session]:
    """One session per request; rolled back on error, committed before the response is sent.

    Blocking on the event loop on purpose, as is every route and dependency of this app:
    a Lambda container serves one request at a time (Mangum drives one event), so nothing
    else waits on the loop, while each hop to a worker thread costs a handoff, and anyio
    ends its worker threads with every invocation's root task, so Mangum would start a new
    thread per request. The local gateway runs each request on its own thread and loop.
    """
    if request.method in READ_ONLY_METHODS:
        session = read_only_session()
        try:
            yield session
        finally:
            end_read_only(session)
        return
    session = get_sessionmaker()()
    try:
        yield session
    except BaseException:
        _finish(session, succeeded=False)
        raise
    _finish(session, succeeded=True)


# scope="function": commit happens before the response leaves, so a 2xx means it is saved.
SessionDep = Annotated[Session, Depends(get_db_session, scope="function")]


async def presented_token(
    oauth_token: Annotated[str | None, Depends(oauth2_scheme)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> str:
    token = oauth_token or (bearer.credentials if bearer is not None else None)
    if not token:
        raise UnauthorizedError("not authenticated")
    return token


PresentedToken = Annotated[str, Depends(presented_token)]


@contextmanager
def _invalid_token_is_unauthorized() -> Iterator[None]:
    try:
        yield
    except InvalidTokenError as exc:
        raise UnauthorizedError("invalid or expired token", code="invalid_token") from exc


async def get_principal(db_session: SessionDep, token: PresentedToken) -> Principal:
    """Any active user; routes that only need to know who calls (most reads) use this."""
    with _invalid_token_is_unauthorized():
        return tokens.principal_for_access_token(db_session=db_session, token=token)


Authenticated = Annotated[Principal, Depends(get_principal)]


async def get_current_user(db_session: SessionDep, token: PresentedToken) -> User:
    """The caller's user row, for routes that read or change it (profile, watchlist, users)."""
    with _invalid_token_is_unauthorized():
        return tokens.user_for_access_token(db_session=db_session, token=token)


CurrentUser = Annotated[User, Depends(get_current_user)]


async def require_admin(principal: Authenticated) -> Principal:
    if not principal.is_admin:
        raise ForbiddenError("admin role required")
    return principal


async def get_admin_user(user: CurrentUser) -> User:
    if user.role != Role.ADMIN:
        raise ForbiddenError("admin role required")
    return user


AdminUser = Annotated[User, Depends(get_admin_user)]


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
