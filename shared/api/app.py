"""The api function's FastAPI app: routers, one error format, request ids, CORS.

Each domain's router is imported the first time a request needs it (or when the OpenAPI
schema is built): its services, schemas and models are most of the app's import time, and
a cold start should pay only for the domains its first request touches.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.api.errors import DomainErrorMiddleware, add_error_schema, install_error_handlers
from shared.api.request_id import HEADER as REQUEST_ID_HEADER
from shared.api.request_id import RequestIdMiddleware
from shared.config import get_settings

API_VERSION = "1.0.0"

# Path prefix → the module whose `router` serves it.
ROUTERS: dict[str, str] = {
    "/health": "shared.api.routers.health",
    "/api/auth": "shared.api.routers.auth",
    "/api/users": "shared.api.routers.users",
    "/api/stocks": "shared.api.routers.stocks",
    "/api/predictions": "shared.api.routers.predictions",
    "/api/dashboard": "shared.api.routers.dashboard",
    "/api/models": "shared.api.routers.models",
    "/api/ab-test": "shared.api.routers.abtests",
    "/api/news": "shared.api.routers.news",
}


class RouterLoader:
    """Includes routers into the app on demand, once each, safely across threads."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._included: set[str] = set()
        self._lock = threading.Lock()

    def include_for(self, path: str) -> None:
        for prefix in ROUTERS:
            if (path == prefix or path.startswith(prefix + "/")) and prefix not in self._included:
                self._include(prefix)

    def include_all(self) -> None:
        for prefix in ROUTERS:
            if prefix not in self._included:
                self._include(prefix)

    def _include(self, prefix: str) -> None:
        with self._lock:
            if prefix in self._included:
                return
            module = importlib.import_module(ROUTERS[prefix])
            self._app.include_router(module.router)
            self._app.openapi_schema = None
            self._included.add(prefix)


class IncludeRoutersOnDemand:
    """Pure ASGI: before routing, make sure the router for the request's path is in."""

    def __init__(self, app: ASGIApp, loader: RouterLoader) -> None:
        self.app = app
        self.loader = loader

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.loader.include_for(scope["path"])
        await self.app(scope, receive, send)


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(
        title="StockInsight API",
        version=API_VERSION,
        description="AI-driven insights on Korean stocks: predictions, their evidence and how they scored.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        swagger_ui_oauth2_redirect_url="/api/docs/oauth2-redirect",  # beside the docs it serves
        redoc_url=None,
        swagger_ui_init_oauth={"clientId": "stockinsight-web"},
    )
    install_error_handlers(app)
    loader = RouterLoader(app)
    # Innermost first: each add_middleware wraps what was added before it.
    app.add_middleware(IncludeRoutersOnDemand, loader=loader)
    app.add_middleware(DomainErrorMiddleware)
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
    _document_all_routes(app, loader)
    return app


def _document_all_routes(app: FastAPI, loader: RouterLoader) -> None:
    """OpenAPI describes every route, so it includes every router first; routes refer to the
    ErrorResponse schema by reference, which is added when the schema is built."""
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        loader.include_all()
        if app.openapi_schema is None:
            app.openapi_schema = add_error_schema(build_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
