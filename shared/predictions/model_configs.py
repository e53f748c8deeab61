"""Model configurations: the API's reads (with live performance) and the admin's writes.

Performance comes from `daily_performance`, the evaluate function's roll-up: the rows
with no A/B variant are each model's overall numbers per day. Windows are summed in SQL.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.abtest.models import AbTest, AbTestStatus, AbVariant
from shared.evaluation.models import DailyPerformance
from shared.evaluation.statistics import wilson_interval
from shared.predictions.models import ModelConfig
from shared.predictions.schemas import ModelConfigCreate, ModelConfigPerformance, ModelConfigUpdate

PERFORMANCE_WINDOWS = (7, 30, 90)


class ModelConfigExistsError(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a model config named {name!r} already exists")


class ModelInRunningTestError(ValueError):
    """A model a running A/B test depends on cannot be deactivated."""


def get(*, db_session: Session, model_config_id: int) -> ModelConfig | None:
    return db_session.get(ModelConfig, model_config_id)


def get_by_name(*, db_session: Session, name: str) -> ModelConfig | None:
    return db_session.scalars(select(ModelConfig).where(ModelConfig.name == name)).one_or_none()


def get_all(
    *, db_session: Session, active: bool | None = None, limit: int, offset: int
) -> tuple[list[ModelConfig], int]:
    conditions = [ModelConfig.active.is_(active)] if active is not None else []
    total = db_session.scalar(select(func.count()).select_from(ModelConfig).where(*conditions))
    configs = db_session.scalars(
        select(ModelConfig)
        .where(*conditions)
        .order_by(ModelConfig.is_champion.desc(), ModelConfig.name, ModelConfig.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return list(configs), int(total or 0)


def performance_as_of(*, db_session: Session) -> date | None:
    return db_session.scalar(select(func.max(DailyPerformance.date)).where(DailyPerformance.ab_variant_id.is_(None)))


def performance(
    *, db_session: Session, model_config_ids: list[int], anchor: date | None
) -> dict[int, list[ModelConfigPerformance]]:
    """Per model, trailing-window totals ending at `anchor`; one grouped statement for all models."""
    if not model_config_ids or anchor is None:
        return {model_id: [] for model_id in model_config_ids}
    columns: list[Any] = []
    for days in PERFORMANCE_WINDOWS:
        in_window = DailyPerformance.date > anchor - timedelta(days=days)
        columns += [
            func.coalesce(func.sum(DailyPerformance.n).filter(in_window), 0).label(f"n_{days}"),
            func.coalesce(func.sum(DailyPerformance.hits).filter(in_window), 0).label(f"hits_{days}"),
            func.sum(DailyPerformance.brier * DailyPerformance.n).filter(in_window).label(f"brier_{days}"),
            func.sum(DailyPerformance.mean_strategy_return * DailyPerformance.n)
            .filter(in_window)
            .label(f"return_{days}"),
        ]
    rows = db_session.execute(
        select(DailyPerformance.model_config_id, *columns)
        .where(
            DailyPerformance.model_config_id.in_(model_config_ids),
            DailyPerformance.ab_variant_id.is_(None),
            DailyPerformance.date > anchor - timedelta(days=max(PERFORMANCE_WINDOWS)),
            DailyPerformance.date <= anchor,
        )
        .group_by(DailyPerformance.model_config_id)
    ).all()
    by_model: dict[int, list[ModelConfigPerformance]] = {model_id: [] for model_id in model_config_ids}
    for row in rows:
        values = row._mapping
        windows = []
        for days in PERFORMANCE_WINDOWS:
            n, hits = int(values[f"n_{days}"]), int(values[f"hits_{days}"])
            low, high = wilson_interval(hits, n) if n else (None, None)
            windows.append(
                ModelConfigPerformance(
                    days=days,
                    n=n,
                    hits=hits,
                    hit_rate=hits / n if n else None,
                    hit_rate_low=low,
                    hit_rate_high=high,
                    brier=float(values[f"brier_{days}"]) / n if n else None,
                    mean_strategy_return=float(values[f"return_{days}"]) / n if n else None,
                )
            )
        by_model[row.model_config_id] = windows
    return by_model


def create(*, db_session: Session, model_config_in: ModelConfigCreate) -> ModelConfig:
    if get_by_name(db_session=db_session, name=model_config_in.name) is not None:
        raise ModelConfigExistsError(model_config_in.name)
    config = ModelConfig(**model_config_in.model_dump())
    db_session.add(config)
    try:
        db_session.commit()
    except IntegrityError as exc:
        db_session.rollback()
        raise ModelConfigExistsError(model_config_in.name) from exc
    return config


def update(*, db_session: Session, model_config: ModelConfig, model_config_in: ModelConfigUpdate) -> ModelConfig:
    changes = model_config_in.model_dump(exclude_unset=True)
    for nullable_only in ("name", "model_id", "params", "description"):
        if changes.get(nullable_only, "") is None:
            del changes[nullable_only]  # null means "no change" for fields that cannot be null
    new_name = changes.get("name")
    renamed_onto_another = (
        new_name is not None
        and new_name != model_config.name
        and get_by_name(db_session=db_session, name=new_name) is not None
    )
    if renamed_onto_another:
        raise ModelConfigExistsError(str(new_name))
    for key, value in changes.items():
        setattr(model_config, key, value)
    try:
        db_session.commit()
    except IntegrityError as exc:
        db_session.rollback()
        raise ModelConfigExistsError(str(new_name)) from exc
    return model_config


def _running_tests_using(*, db_session: Session, model_config_id: int) -> list[str]:
    return list(
        db_session.scalars(
            select(AbTest.name)
            .join(AbVariant, AbVariant.ab_test_id == AbTest.id)
            .where(AbVariant.model_config_id == model_config_id, AbTest.status == AbTestStatus.RUNNING)
            .distinct()
        )
    )


def set_active(*, db_session: Session, model_config: ModelConfig, active: bool) -> ModelConfig:
    if not active:
        tests = _running_tests_using(db_session=db_session, model_config_id=model_config.id)
        if tests:
            raise ModelInRunningTestError(
                f"model {model_config.name!r} is in running A/B test(s) {', '.join(sorted(tests))}; stop them first"
            )
    model_config.active = active
    db_session.commit()
    return model_config


def make_champion(*, db_session: Session, model_config: ModelConfig) -> ModelConfig:
    """The one model whose call the dashboard and 'latest' show first; the others step down."""
    for other in db_session.scalars(select(ModelConfig).where(ModelConfig.is_champion.is_(True))):
        other.is_champion = False
    model_config.is_champion = True
    db_session.commit()
    return model_config
