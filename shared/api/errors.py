"""One error format for every response that is not a success:

    {"error": {"code": "not_found", "message": "...", "details": ...}}

HTTPException (including Starlette's own 404/405), request validation, the domains'
errors and database refusals all end here, so a client parses one shape and bad input
never becomes a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.abtest.service import AbTestExistsError, AbTestStateError, UnknownModelConfigError, UnknownVariantError
from shared.api.schema_base import ApiModel
from shared.predictions.model_configs import ModelConfigExistsError, ModelInRunningTestError
from shared.users.login_throttle import LoginThrottled
from shared.users.passwords import PasswordPolicyError
from shared.users.security import InvalidTokenError
from shared.users.service import (
    LastAdminError,
    UnknownStockError,
    UserAlreadyExistsError,
    UserNotFoundError,
    WrongPasswordError,
)

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
DOMAIN_ERRORS: dict[type[Exception], tuple[int, str]] = {
    UserAlreadyExistsError: (409, "conflict"),
    UserNotFoundError: (404, "not_found"),
    UnknownStockError: (404, "not_found"),
    LastAdminError: (409, "conflict"),
    WrongPasswordError: (400, "wrong_password"),
    PasswordPolicyError: (422, "password_policy"),
    InvalidTokenError: (401, "invalid_token"),
    ModelConfigExistsError: (409, "conflict"),
    ModelInRunningTestError: (409, "conflict"),
    AbTestExistsError: (409, "conflict"),
    AbTestStateError: (409, "invalid_state"),
    UnknownModelConfigError: (404, "not_found"),
    UnknownVariantError: (404, "not_found"),
}


def register_domain_error(error_type: type[Exception], status_code: int, code: str) -> None:
    DOMAIN_ERRORS[error_type] = (status_code, code)


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

    async def throttled(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, LoginThrottled)
        return error_response(
            429,
            "rate_limited",
            "too many login attempts; try again later",
            {"retry_after_seconds": exc.retry_after_seconds},
            {"Retry-After": str(exc.retry_after_seconds)},
        )

    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        state = sqlstate(exc)
        if state.startswith("23"):  # integrity: services check first, so this is a race
            log.warning("integrity error", extra={"sqlstate": state, "error": str(exc)[:500]})
            return error_response(409, "conflict", "the change conflicts with existing data")
        if state.startswith("22"):  # data exception: a value Postgres cannot store or compare
            log.warning("database refused a value", extra={"sqlstate": state, "error": str(exc)[:500]})
            return error_response(400, "bad_request", "a value is out of range or malformed")
        return await unexpected_error(request, exc)

    def domain_handler(status_code: int, code: str) -> Callable[[Request, Exception], Any]:
        async def handle(request: Request, exc: Exception) -> JSONResponse:
            headers = {"WWW-Authenticate": "Bearer"} if status_code == 401 else None
            message = "invalid or expired token" if status_code == 401 else str(exc)
            return error_response(status_code, code, message, headers=headers)

        return handle

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
    app.add_exception_handler(LoginThrottled, throttled)
    app.add_exception_handler(DBAPIError, database_error)
    for error_type, (status_code, code) in DOMAIN_ERRORS.items():
        app.add_exception_handler(error_type, domain_handler(status_code, code))
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
