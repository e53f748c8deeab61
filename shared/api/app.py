"""The api function's FastAPI app: routers, one error format, request ids, CORS."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from shared.api.errors import add_error_schema, install_error_handlers
from shared.api.request_id import HEADER as REQUEST_ID_HEADER
from shared.api.request_id import RequestIdMiddleware
from shared.api.routers import abtests, auth, dashboard, health, models, news, predictions, stocks, users
from shared.config import get_settings

API_VERSION = "1.0.0"


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(
        title="StockInsight API",
        version=API_VERSION,
        description="AI-driven insights on Korean stocks: predictions, their evidence and how they scored.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        swagger_ui_init_oauth={"clientId": "stockinsight-web"},
    )
    install_error_handlers(app)
    for router in (
        health.router,
        auth.router,
        users.router,
        stocks.router,
        predictions.router,
        dashboard.router,
        models.router,
        abtests.router,
        news.router,
    ):
        app.include_router(router)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=False,  # bearer tokens in a header, no cookies
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", REQUEST_ID_HEADER],
        expose_headers=[REQUEST_ID_HEADER, "Retry-After"],
        max_age=600,
    )
    # Added last, so it wraps CORS and the routes: every response carries the id.
    app.add_middleware(RequestIdMiddleware)
    _document_errors(app)
    return app


def _document_errors(app: FastAPI) -> None:
    """Routes refer to the ErrorResponse schema by reference; add it when OpenAPI is built."""
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_error_schema(build_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
