"""Writing predictions and reading what the predict workflow needs; the only writer of its tables.

Uniqueness on (stock, model, target date) makes every write idempotent: a redelivered
message inserts nothing new, and `existing_stock_codes` is checked before a model is
called, so a redelivery never pays for an LLM call twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from shared.abtest.models import AbTest, AbTestStatus, AbVariant
from shared.predictions.models import (
    Direction,
    ModelConfig,
    ModelKind,
    Prediction,
    PredictionStatus,
)
from shared.predictions.predictors import PredictionOutcome


@dataclass(frozen=True, slots=True)
class DefaultModel:
    name: str
    kind: ModelKind
    provider: str
    model_id: str
    prompt_version: str | None = None
    params: dict[str, Any] | None = None
    is_champion: bool = False
    description: str = ""


def default_models(chat_model: str) -> list[DefaultModel]:
    return [
        DefaultModel(
            "momentum-5d",
            ModelKind.BASELINE,
            "momentum",
            "momentum",
            params={"lookback_days": 5},
            description="Sign of the last 5-day return.",
        ),
        DefaultModel(
            "news-sentiment",
            ModelKind.BASELINE,
            "news_sentiment",
            "lexicon-v1",
            description="Korean finance lexicon over the retrieved news.",
        ),
        DefaultModel(
            "base-rate",
            ModelKind.BASELINE,
            "base_rate",
            "majority-20d",
            description="The stock's majority direction over the last 20 sessions.",
        ),
        DefaultModel(
            f"{chat_model}-rag",
            ModelKind.LLM,
            "openai",
            chat_model,
            prompt_version="v1",
            params={"temperature": 0.2},
            is_champion=True,
            description="LLM with the retrieved news as evidence.",
        ),
    ]


def ensure_default_models(*, db_session: Session, chat_model: str) -> int:
    """Insert the default model configs that do not exist yet; returns how many were added."""
    rows = [
        {
            "name": model.name,
            "kind": model.kind,
            "provider": model.provider,
            "model_id": model.model_id,
            "prompt_version": model.prompt_version,
            "params": model.params or {},
            "is_champion": model.is_champion,
            "description": model.description,
        }
        for model in default_models(chat_model)
    ]
    result = db_session.execute(
        insert(ModelConfig).values(rows).on_conflict_do_nothing(index_elements=["name"]).returning(ModelConfig.id)
    )
    return len(result.all())


def active_model_configs(*, db_session: Session) -> list[ModelConfig]:
    return list(db_session.scalars(select(ModelConfig).where(ModelConfig.active).order_by(ModelConfig.id)))


@dataclass(frozen=True, slots=True)
class RunningTest:
    test_id: int
    variants: list[AbVariant]

    @property
    def model_config_ids(self) -> set[int]:
        return {variant.model_config_id for variant in self.variants}


def running_ab_tests(*, db_session: Session) -> list[RunningTest]:
    tests = list(db_session.scalars(select(AbTest).where(AbTest.status == AbTestStatus.RUNNING).order_by(AbTest.id)))
    if not tests:
        return []
    variants = list(
        db_session.scalars(
            select(AbVariant).where(AbVariant.ab_test_id.in_([test.id for test in tests])).order_by(AbVariant.id)
        )
    )
    return [RunningTest(test.id, [variant for variant in variants if variant.ab_test_id == test.id]) for test in tests]


def existing_stock_codes(
    *, db_session: Session, model_config_id: int, target_date: date, stock_codes: Iterable[str] | None = None
) -> set[str]:
    query = select(Prediction.stock_code).where(
        Prediction.model_config_id == model_config_id, Prediction.target_date == target_date
    )
    if stock_codes is not None:
        query = query.where(Prediction.stock_code.in_(list(stock_codes)))
    return set(db_session.scalars(query))


def llm_spend_on(*, db_session: Session, target_date: date) -> Decimal:
    """What LLM predictions for one target date have cost so far (the daily budget's meter)."""
    spent = db_session.scalar(
        select(func.coalesce(func.sum(Prediction.cost_usd), 0))
        .join(ModelConfig, ModelConfig.id == Prediction.model_config_id)
        .where(Prediction.target_date == target_date, ModelConfig.kind == ModelKind.LLM)
    )
    return Decimal(str(spent or 0))


@dataclass(frozen=True, slots=True)
class PredictionRecord:
    """One prediction to store: an outcome, or a failure with its reason."""

    stock_code: str
    model_config_id: int
    ab_variant_id: int | None
    as_of_date: date
    target_date: date
    outcome: PredictionOutcome | None = None
    error: str | None = None
    prompt_version: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal = Decimal("0")


def _row(record: PredictionRecord) -> dict[str, Any]:
    row: dict[str, Any] = {
        "stock_code": record.stock_code,
        "model_config_id": record.model_config_id,
        "ab_variant_id": record.ab_variant_id,
        "as_of_date": record.as_of_date,
        "target_date": record.target_date,
    }
    if record.outcome is not None:
        outcome = record.outcome
        row.update(
            status=PredictionStatus.OK,
            direction=outcome.direction,
            probability=outcome.probability,
            expected_return=outcome.expected_return,
            rationale=outcome.rationale,
            evidence_news_ids=outcome.evidence_news_ids,
            prompt_version=outcome.prompt_version,
            prompt_tokens=outcome.prompt_tokens,
            completion_tokens=outcome.completion_tokens,
            cost_usd=outcome.cost_usd,
            error=None,
        )
    else:
        row.update(
            status=PredictionStatus.FAILED,
            direction=None,
            probability=None,
            expected_return=None,
            rationale="",
            evidence_news_ids=[],
            prompt_version=record.prompt_version,
            prompt_tokens=record.prompt_tokens,
            completion_tokens=record.completion_tokens,
            cost_usd=record.cost_usd,
            error=(record.error or "unknown failure")[:2000],
        )
    return row


def store_predictions(*, db_session: Session, records: Sequence[PredictionRecord]) -> list[Prediction]:
    """Insert what is new; rows that already exist are left as they are. Returns the inserted rows."""
    if not records:
        return []
    # The rows go as parameters of one cached statement (sent as one multi-row INSERT):
    # `.values(rows)` would build and compile a statement of its own for every batch, which
    # cost more CPU than the insert itself. `render_nulls` keeps rows with and without an
    # outcome in that one INSERT instead of one per set of non-null columns.
    return list(
        db_session.scalars(
            _INSERT_NEW_PREDICTIONS,
            [_row(record) for record in records],
            execution_options={"render_nulls": True},
        )
    )


_INSERT_NEW_PREDICTIONS = (
    insert(Prediction)
    .on_conflict_do_nothing(index_elements=["stock_code", "model_config_id", "target_date"])
    .returning(Prediction)
)


def is_high_signal(prediction: Prediction, model_config: ModelConfig, *, threshold: float) -> bool:
    """Worth a Telegram message: a confident up/down call from the champion (or a model marked notify)."""
    if prediction.status != PredictionStatus.OK or prediction.direction in (None, Direction.FLAT):
        return False
    if prediction.probability is None or prediction.probability < threshold:
        return False
    return model_config.is_champion or bool(model_config.params.get("notify", False))
