"""The api function's FastAPI app: routers, one error format, request ids, CORS."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from shared.api.errors import install_error_handlers
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
    return app
