"""One error format for every response that is not a success:

    {"error": {"code": "not_found", "message": "...", "details": ...}}

HTTPException (including Starlette's own 404/405), request validation, the domains'
errors and database refusals all end here, so a client parses one shape and bad input
never becomes a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.api.schema_base import ApiModel

log = logging.getLogger(__name__)

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


class ErrorDetail(ApiModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(ApiModel):
    error: ErrorDetail


class ApiError(Exception):
    """Raised by routers and dependencies; carries everything the response needs."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        details: Any = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        if status_code is not None:
            self.status_code = status_code
        self.message = message
        self.details = details
        self.headers = headers
        if code is not None:
            self.code = code


class NotFoundError(ApiError):
    status_code = 404
    code = "not_found"


class ConflictError(ApiError):
    status_code = 409
    code = "conflict"


class UnauthorizedError(ApiError):
    status_code = 401
    code = "unauthorized"

    def __init__(self, message: str = "not authenticated", **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class ForbiddenError(ApiError):
    status_code = 403
    code = "forbidden"


class RateLimitedError(ApiError):
    status_code = 429
    code = "rate_limited"


def error_response(
    status_code: int, code: str, message: str, details: Any = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": jsonable_encoder(details)}}
    return JSONResponse(body, status_code=status_code, headers=headers)


def _validation_details(errors: Sequence[Any]) -> list[dict[str, Any]]:
    # The offending input is left out: it may be a password.
    return [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type", "")}
        for error in errors
    ]


# Domain errors → (status, code). Domain packages stay free of HTTP; this table translates.
# Keyed by the class's import path, not the class: importing every domain service here would
# load them all at cold start, where the routers that raise them are loaded on first use.
DOMAIN_ERRORS: dict[str, tuple[int, str]] = {
    "shared.users.service.UserAlreadyExistsError": (409, "conflict"),
    "shared.users.service.UserNotFoundError": (404, "not_found"),
    "shared.users.service.UnknownStockError": (404, "not_found"),
    "shared.users.service.LastAdminError": (409, "conflict"),
    "shared.users.service.WrongPasswordError": (400, "wrong_password"),
    "shared.users.passwords.PasswordPolicyError": (422, "password_policy"),
    "shared.users.security.InvalidTokenError": (401, "invalid_token"),
    "shared.users.login_throttle.LoginThrottled": (429, "rate_limited"),
    "shared.predictions.model_configs.ModelConfigExistsError": (409, "conflict"),
    "shared.predictions.model_configs.ModelInRunningTestError": (409, "conflict"),
    "shared.abtest.service.AbTestExistsError": (409, "conflict"),
    "shared.abtest.service.AbTestStateError": (409, "invalid_state"),
    "shared.abtest.service.UnknownModelConfigError": (404, "not_found"),
    "shared.abtest.service.UnknownVariantError": (404, "not_found"),
}


def _import_path(error_type: type) -> str:
    return f"{error_type.__module__}.{error_type.__qualname__}"


def domain_error_response(exc: Exception) -> JSONResponse | None:
    """The response for a domain error (the nearest registered class in its MRO), else None."""
    for error_type in type(exc).__mro__:
        entry = DOMAIN_ERRORS.get(_import_path(error_type))
        if entry is None:
            continue
        status_code, code = entry
        if status_code == 401:
            return error_response(401, code, "invalid or expired token", headers={"WWW-Authenticate": "Bearer"})
        if status_code == 429:
            retry_after = int(getattr(exc, "retry_after_seconds", 60))
            return error_response(
                429,
                code,
                "too many login attempts; try again later",
                {"retry_after_seconds": retry_after},
                {"Retry-After": str(retry_after)},
            )
        return error_response(status_code, code, str(exc))
    return None


class DomainErrorMiddleware:
    """Answers a domain error raised by a route or dependency with its mapped status.

    Pure ASGI, just outside Starlette's ExceptionMiddleware (which does not know them), so
    CORS and the request id still wrap the response; anything unmapped propagates to the
    500 handler.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracking_start)
        except Exception as exc:
            response = None if started else domain_error_response(exc)
            if response is None:
                raise
            await response(scope, receive, send)


def sqlstate(exc: Exception) -> str:
    """The SQLSTATE of a database error, whichever driver raised it ("" when unknown)."""
    original = getattr(exc, "orig", exc)
    for attribute in ("sqlstate", "pgcode"):
        value = getattr(original, attribute, None)
        if isinstance(value, str):
            return value
    args = getattr(original, "args", ())
    if args and isinstance(args[0], dict):  # pg8000: the server's error fields
        return str(args[0].get("C", ""))
    return ""


def install_error_handlers(app: FastAPI) -> None:
    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        details = None if isinstance(exc.detail, str) else exc.detail
        return error_response(exc.status_code, code, message, details, exc.headers)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError | ValidationError)
        return error_response(422, "validation_error", "request is invalid", _validation_details(exc.errors()))

    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        state = sqlstate(exc)
        if state.startswith("23"):  # integrity: services check first, so this is a race
            log.warning("integrity error", extra={"sqlstate": state, "error": str(exc)[:500]})
            return error_response(409, "conflict", "the change conflicts with existing data")
        if state.startswith("22"):  # data exception: a value Postgres cannot store or compare
            log.warning("database refused a value", extra={"sqlstate": state, "error": str(exc)[:500]})
            return error_response(400, "bad_request", "a value is out of range or malformed")
        return await unexpected_error(request, exc)

    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        response = error_response(500, "internal_error", "internal server error")
        request_id = getattr(request.state, "request_id", None)
        if request_id:
            response.headers["X-Request-ID"] = request_id
        return response

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(ValidationError, validation_error)
    app.add_exception_handler(DBAPIError, database_error)
    app.add_exception_handler(Exception, unexpected_error)


ERROR_SCHEMA_REF = {"$ref": "#/components/schemas/ErrorResponse"}


def error_responses(*status_codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting the error shape for these statuses.

    A schema reference rather than `model=`: FastAPI builds a pydantic adapter per route per
    model response, which costs cold start on every route; the schema itself is added to
    the components once (`add_error_schema`).
    """
    return {
        status: {
            "description": CODES.get(status, "error"),
            "content": {"application/json": {"schema": ERROR_SCHEMA_REF}},
        }
        for status in status_codes
    }


def add_error_schema(openapi_schema: dict[str, Any]) -> dict[str, Any]:
    """Put ErrorResponse (and the ErrorDetail it uses) into the OpenAPI components."""
    schema = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    components = openapi_schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(schema.pop("$defs", {}))
    components["ErrorResponse"] = schema
    return openapi_schema
