"""A/B tests as the API reads and writes them, with each variant's statistics."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from shared.abtest.models import AbTestStatus
from shared.api.schema_base import ApiModel, Page, ReadModel, UtcDateTime

TestName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
VariantName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
MAX_VARIANTS = 10


class AbVariantCreate(ApiModel):
    name: VariantName
    model_config_id: int = Field(ge=1, le=2_147_483_647)
    weight: float = Field(default=1.0, gt=0, le=1_000_000)


class AbTestCreate(ApiModel):
    name: TestName
    description: str = Field(default="", max_length=2000)
    min_detectable_effect: float = Field(default=0.05, gt=0, lt=1)
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    power: float = Field(default=0.8, gt=0.5, lt=1)
    # The first variant is the control the others are compared against.
    variants: list[AbVariantCreate] = Field(min_length=2, max_length=MAX_VARIANTS)

    @model_validator(mode="after")
    def _distinct_variant_names(self) -> AbTestCreate:
        names = [variant.name for variant in self.variants]
        if len(set(names)) != len(names):
            raise ValueError("variant names must be distinct within a test")
        return self


class AbWinnerDeclare(ApiModel):
    variant_id: int = Field(ge=1, le=2_147_483_647)
    # Make the winner's model the champion (shown first on the dashboard and in "latest").
    promote_to_champion: bool = True
    # Declaring before both variants reach the required sample size is refused unless forced.
    force: bool = False


class VariantStats(ReadModel):
    id: int
    name: str
    model_config_id: int
    model_name: str
    weight: float
    traffic_share: float
    is_control: bool
    predictions: int
    n: int  # evaluated predictions
    hits: int
    hit_rate: float | None
    hit_rate_low: float | None
    hit_rate_high: float | None
    brier: float | None


class VariantComparison(ReadModel):
    """A variant against the control: difference of hit rates (variant − control)."""

    variant_id: int
    control_variant_id: int
    difference: float | None
    difference_low: float | None
    difference_high: float | None
    z: float | None
    p_value: float | None
    significant: bool
    # Per-variant sample size needed to detect the test's minimum effect at its alpha and power.
    required_sample_size: int | None
    # Both variants have reached it: only then is `significant` a call, not a peek.
    sample_size_reached: bool = False


class AbTestRead(ReadModel):
    id: int
    name: str
    description: str
    status: AbTestStatus
    min_detectable_effect: float
    alpha: float
    power: float
    started_at: UtcDateTime | None
    stopped_at: UtcDateTime | None
    winner_variant_id: int | None
    created_at: UtcDateTime
    updated_at: UtcDateTime
    variants: list[VariantStats]
    comparisons: list[VariantComparison]


class AbTestPagination(Page[AbTestRead]):
    """A page of A/B tests; a named subclass gives its OpenAPI schema a readable name."""
