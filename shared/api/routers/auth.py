"""Sign in, refresh, sign out, and who am I.

`/login` takes JSON; `/token` takes the OAuth2 password form (RFC 6749 §4.3) so the
OpenAPI "Authorize" button works. Both count attempts per account and per client IP, and
answer an unknown email exactly as a wrong password, after the same bcrypt work.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request, status

from shared.api.deps import ClientIp, CurrentUser, SessionDep
from shared.api.errors import ApiError, UnauthorizedError, error_responses
from shared.users import login_throttle, tokens
from shared.users import service as user_service
from shared.users.schemas import LoginRequest, RefreshRequest, TokenPair, UserRead
from shared.users.security import InvalidTokenError

router = APIRouter(prefix="/api/auth", tags=["auth"])

MAX_FORM_BYTES = 8192
INVALID_CREDENTIALS = "incorrect email or password"


def _token_pair(pair: tokens.IssuedPair) -> TokenPair:
    return TokenPair(
        access_token=pair.access_token,
        expires_in=pair.access_expires_in,
        refresh_token=pair.refresh_token,
        refresh_expires_in=pair.refresh_expires_in,
    )


def _sign_in(*, db_session: SessionDep, credentials: LoginRequest, client_ip: str) -> TokenPair:
    login_throttle.register_attempt(email=credentials.email, client_ip=client_ip)
    user = user_service.authenticate(db_session=db_session, email=credentials.email, password=credentials.password)
    if user is None:
        raise UnauthorizedError(INVALID_CREDENTIALS, code="invalid_credentials")
    login_throttle.register_success(email=credentials.email, client_ip=client_ip)
    return _token_pair(tokens.issue_token_pair(db_session=db_session, user=user))


async def oauth2_password_form(request: Request) -> LoginRequest:
    """The OAuth2 password grant's urlencoded form (JSON accepted too), parsed without python-multipart."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise ApiError("request body too large", code="payload_too_large", status_code=413)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type == "application/json":
            fields: dict[str, Any] = json.loads(body or b"{}")
            if not isinstance(fields, dict):
                raise ValueError("expected a JSON object")
        elif content_type in ("application/x-www-form-urlencoded", ""):
            parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
            fields = {key: values[0] for key, values in parsed.items()}
        else:
            raise ApiError(f"unsupported content type {content_type!r}", code="unsupported_media_type", status_code=415)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError("malformed form body") from exc
    grant_type = fields.get("grant_type", "password")
    if grant_type != "password":
        raise ApiError("unsupported grant_type; use 'password'", code="unsupported_grant_type")
    # A ValidationError here becomes the usual 422 (installed handler).
    return LoginRequest(email=fields.get("username", fields.get("email", "")), password=fields.get("password", ""))


_FORM_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["username", "password"],
                    "properties": {
                        "grant_type": {"type": "string", "enum": ["password"]},
                        "username": {"type": "string", "description": "the account's email"},
                        "password": {"type": "string", "format": "password"},
                        "scope": {"type": "string"},
                    },
                }
            }
        },
    }
}


@router.post("/login", response_model=TokenPair, responses=error_responses(401, 422, 429))
async def login(credentials: LoginRequest, db_session: SessionDep, client_ip: ClientIp) -> TokenPair:
    return _sign_in(db_session=db_session, credentials=credentials, client_ip=client_ip)


@router.post(
    "/token", response_model=TokenPair, responses=error_responses(400, 401, 422, 429), openapi_extra=_FORM_SCHEMA
)
async def token(
    credentials: Annotated[LoginRequest, Depends(oauth2_password_form)], db_session: SessionDep, client_ip: ClientIp
) -> TokenPair:
    return _sign_in(db_session=db_session, credentials=credentials, client_ip=client_ip)


@router.post("/refresh", response_model=TokenPair, responses=error_responses(401, 422))
async def refresh(body: RefreshRequest, db_session: SessionDep) -> TokenPair:
    """Exchange a refresh token for a new pair; the old refresh token stops working."""
    try:
        pair = tokens.rotate_refresh_token(db_session=db_session, refresh_token=body.refresh_token)
    except InvalidTokenError as exc:
        raise UnauthorizedError("invalid, expired or already used refresh token", code="invalid_token") from exc
    return _token_pair(pair)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(401, 422))
async def logout(body: RefreshRequest, db_session: SessionDep) -> None:
    """Revoke a refresh token. Idempotent: an already revoked token is fine; a forged one is not."""
    try:
        tokens.revoke_refresh_token(db_session=db_session, refresh_token=body.refresh_token)
    except InvalidTokenError as exc:
        raise UnauthorizedError("invalid refresh token", code="invalid_token") from exc


@router.get("/me", response_model=UserRead, responses=error_responses(401))
async def me(user: CurrentUser) -> UserRead:
    return UserRead.model_validate(user)
