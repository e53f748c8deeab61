"""Predictions and model configurations as the API reads and writes them."""

from __future__ import annotations

import enum
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from shared.api.schema_base import ApiModel, Page, ReadModel, UtcDateTime
from shared.evaluation.schemas import EvaluationRead, EvaluationSummary
from shared.news.schemas import NewsRead
from shared.predictions.models import Direction, ModelKind, PredictionStatus


class PredictionSort(enum.StrEnum):
    """Sort keys; a leading '-' sorts descending. Ties break by id in the same direction."""

    TARGET_DATE_DESC = "-target_date"
    TARGET_DATE_ASC = "target_date"
    AS_OF_DATE_DESC = "-as_of_date"
    AS_OF_DATE_ASC = "as_of_date"
    PROBABILITY_DESC = "-probability"
    PROBABILITY_ASC = "probability"
    CREATED_AT_DESC = "-created_at"
    CREATED_AT_ASC = "created_at"
    ID_DESC = "-id"
    ID_ASC = "id"


class PredictionFilters(ApiModel):
    stock_code: str | None = None
    model_config_id: int | None = None
    ab_variant_id: int | None = None
    as_of_from: date | None = None
    as_of_to: date | None = None
    target_from: date | None = None
    target_to: date | None = None
    direction: Direction | None = None
    status: PredictionStatus | None = None
    min_probability: float | None = Field(default=None, ge=0.0, le=1.0)
    evaluated: bool | None = None

    @model_validator(mode="after")
    def _ranges_are_ordered(self) -> PredictionFilters:
        if self.as_of_from and self.as_of_to and self.as_of_from > self.as_of_to:
            raise ValueError("as_of_from must not be after as_of_to")
        if self.target_from and self.target_to and self.target_from > self.target_to:
            raise ValueError("target_from must not be after target_to")
        return self


class PredictionRead(ReadModel):
    id: int
    stock_code: str
    stock_name: str
    market: str
    model_config_id: int
    model_name: str
    ab_variant_id: int | None
    as_of_date: date
    target_date: date
    status: PredictionStatus
    direction: Direction | None
    probability: float | None
    expected_return: float | None
    created_at: UtcDateTime
    evaluation: EvaluationSummary | None = None


class PredictionPagination(Page[PredictionRead]):
    """A page of predictions; a named subclass gives its OpenAPI schema a readable name."""


class PredictionDetail(PredictionRead):
    rationale: str
    evidence_news_ids: list[int]
    evidence: list[NewsRead]
    prompt_version: str | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal
    error: str | None
    ab_variant_name: str | None = None
    ab_test_id: int | None = None
    evaluation: EvaluationRead | None = None  # type: ignore[assignment]


# --- model configurations -------------------------------------------------------

# What `shared.predictions.predictors.predictor_for` can run.
MODEL_PROVIDERS = ("openai", "momentum", "news_sentiment", "base_rate")
ModelName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Provider = Literal["openai", "momentum", "news_sentiment", "base_rate"]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
PromptVersion = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


def _kind_matches_provider(kind: ModelKind | None, provider: str | None) -> None:
    if kind is None or provider is None:
        return
    if (kind == ModelKind.LLM) != (provider == "openai"):
        raise ValueError("kind 'llm' goes with provider 'openai'; baselines use the other providers")


class ModelConfigCreate(ApiModel):
    name: ModelName
    kind: ModelKind
    provider: Provider
    model_id: ShortText
    prompt_version: PromptVersion | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    active: bool = True
    description: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfigCreate:
        _kind_matches_provider(self.kind, self.provider)
        return self


class ModelConfigUpdate(ApiModel):
    """Omitted fields stay as they are. Kind and provider are fixed: a new predictor is a new config."""

    name: ModelName | None = None
    model_id: ShortText | None = None
    prompt_version: PromptVersion | None = None
    params: dict[str, Any] | None = None
    description: str | None = Field(default=None, max_length=2000)


class ModelConfigPerformance(ReadModel):
    """Live performance over a trailing window, summed from daily_performance."""

    days: int
    n: int
    hits: int
    hit_rate: float | None
    hit_rate_low: float | None
    hit_rate_high: float | None
    brier: float | None
    mean_strategy_return: float | None


class ModelConfigRead(ReadModel):
    id: int
    name: str
    kind: ModelKind
    provider: str
    model_id: str
    prompt_version: str | None
    params: dict[str, Any]
    active: bool
    is_champion: bool
    description: str
    created_at: UtcDateTime
    updated_at: UtcDateTime


class ModelConfigWithPerformance(ModelConfigRead):
    # Windows end at the latest date daily_performance holds for any model.
    performance_as_of: date | None = None
    performance: list[ModelConfigPerformance] = []


class ModelConfigPagination(Page[ModelConfigWithPerformance]):
    """A page of model configs; a named subclass gives its OpenAPI schema a readable name."""
