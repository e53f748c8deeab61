"""Model configurations with their live performance; admins create, edit and switch them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from shared.api.deps import IntId, PaginationDep, SessionDep, get_principal, require_admin
from shared.api.errors import NotFoundError, error_responses
from shared.predictions import model_configs
from shared.predictions.models import ModelConfig
from shared.predictions.schemas import (
    ModelConfigCreate,
    ModelConfigPagination,
    ModelConfigUpdate,
    ModelConfigWithPerformance,
)

router = APIRouter(
    prefix="/api/models",
    tags=["models"],
    dependencies=[Depends(get_principal)],
    responses=error_responses(401, 422),
)
admin_only = [Depends(require_admin)]


async def model_config_or_404(model_id: IntId, db_session: SessionDep) -> ModelConfig:
    config = model_configs.get(db_session=db_session, model_config_id=model_id)
    if config is None:
        raise NotFoundError(f"model config {model_id} not found")
    return config


ValidModelConfig = Annotated[ModelConfig, Depends(model_config_or_404)]


def _with_performance(db_session: SessionDep, configs: list[ModelConfig]) -> list[ModelConfigWithPerformance]:
    anchor = model_configs.performance_as_of(db_session=db_session)
    performance = model_configs.performance(
        db_session=db_session, model_config_ids=[config.id for config in configs], anchor=anchor
    )
    items = []
    for config in configs:
        item = ModelConfigWithPerformance.model_validate(config)
        item.performance_as_of = anchor
        item.performance = performance.get(config.id, [])
        items.append(item)
    return items


@router.get("", response_model=ModelConfigPagination)
async def list_model_configs(
    db_session: SessionDep, page: PaginationDep, active: bool | None = None
) -> ModelConfigPagination:
    """Champion first, then by name; each with hit rate, Brier and returns over 7/30/90 days."""
    configs, total = model_configs.get_all(db_session=db_session, active=active, limit=page.limit, offset=page.offset)
    return ModelConfigPagination(
        items=_with_performance(db_session, configs), total=total, limit=page.limit, offset=page.offset
    )


@router.get("/{model_id}", response_model=ModelConfigWithPerformance, responses=error_responses(404))
async def read_model_config(config: ValidModelConfig, db_session: SessionDep) -> ModelConfigWithPerformance:
    return _with_performance(db_session, [config])[0]


@router.post(
    "",
    response_model=ModelConfigWithPerformance,
    status_code=status.HTTP_201_CREATED,
    dependencies=admin_only,
    responses=error_responses(403, 409),
)
async def create_model_config(model_config_in: ModelConfigCreate, db_session: SessionDep) -> ModelConfigWithPerformance:
    config = model_configs.create(db_session=db_session, model_config_in=model_config_in)
    return _with_performance(db_session, [config])[0]


@router.patch(
    "/{model_id}",
    response_model=ModelConfigWithPerformance,
    dependencies=admin_only,
    responses=error_responses(403, 404, 409),
)
async def update_model_config(
    config: ValidModelConfig, model_config_in: ModelConfigUpdate, db_session: SessionDep
) -> ModelConfigWithPerformance:
    updated = model_configs.update(db_session=db_session, model_config=config, model_config_in=model_config_in)
    return _with_performance(db_session, [updated])[0]


@router.post(
    "/{model_id}/activate",
    response_model=ModelConfigWithPerformance,
    dependencies=admin_only,
    responses=error_responses(403, 404),
)
async def activate_model_config(config: ValidModelConfig, db_session: SessionDep) -> ModelConfigWithPerformance:
    updated = model_configs.set_active(db_session=db_session, model_config=config, active=True)
    return _with_performance(db_session, [updated])[0]


@router.post(
    "/{model_id}/deactivate",
    response_model=ModelConfigWithPerformance,
    dependencies=admin_only,
    responses=error_responses(403, 404, 409),
)
async def deactivate_model_config(config: ValidModelConfig, db_session: SessionDep) -> ModelConfigWithPerformance:
    """409 while a running A/B test uses the model."""
    updated = model_configs.set_active(db_session=db_session, model_config=config, active=False)
    return _with_performance(db_session, [updated])[0]
