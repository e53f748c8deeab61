"""`/health`: Postgres, Redis and Milvus reachability and versions, without auth.

200 when all three answer, 503 when any does not (the body says which and why), so a
load balancer or an alarm can act on the status alone.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from sqlalchemy import text

from shared.api.schema_base import ReadModel
from shared.db.session import get_engine
from shared.stores.redis import get_redis

router = APIRouter(tags=["health"])


class ComponentHealth(ReadModel):
    ok: bool
    version: str | None = None
    error: str | None = None


class HealthRead(ReadModel):
    status: Literal["ok", "degraded"]
    postgres: ComponentHealth
    redis: ComponentHealth
    milvus: ComponentHealth


def _failure(exc: Exception) -> ComponentHealth:
    return ComponentHealth(ok=False, error=f"{type(exc).__name__}: {exc}"[:200])


def postgres_health() -> ComponentHealth:
    try:
        with get_engine().connect() as connection:
            version = connection.execute(text("SHOW server_version")).scalar_one()
        return ComponentHealth(ok=True, version=str(version))
    except Exception as exc:  # any failure to answer is "down" to a health check
        return _failure(exc)


def redis_health() -> ComponentHealth:
    try:
        info = get_redis().info("server")
        return ComponentHealth(ok=True, version=str(info.get("redis_version")))
    except Exception as exc:
        return _failure(exc)


def milvus_component_health() -> ComponentHealth:
    try:
        # pymilvus costs ~0.5 s to import: only /health and news search pay it.
        from shared.stores.milvus import milvus_health

        ok, detail = milvus_health()
    except Exception as exc:
        return _failure(exc)
    return ComponentHealth(ok=True, version=detail) if ok else ComponentHealth(ok=False, error=detail)


@router.get("/health", response_model=HealthRead, responses={503: {"model": HealthRead, "description": "degraded"}})
async def health(response: Response) -> HealthRead:
    components = {"postgres": postgres_health(), "redis": redis_health(), "milvus": milvus_component_health()}
    healthy = all(component.ok for component in components.values())
    if not healthy:
        response.status_code = 503
    return HealthRead(status="ok" if healthy else "degraded", **components)
