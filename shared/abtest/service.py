"""A/B tests: creating, starting, stopping, declaring a winner, and their statistics.

Statistics come from evaluations joined to predictions by `ab_variant_id`, aggregated in
one grouped statement for every variant on a page; the tests themselves (Wilson interval,
two-proportion z-test, difference CI, sample size) are `shared.evaluation.statistics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.abtest.models import AbTest, AbTestStatus, AbVariant
from shared.abtest.schemas import AbTestCreate, AbTestRead, VariantComparison, VariantStats
from shared.evaluation.models import Evaluation
from shared.evaluation.statistics import difference_ci, required_sample_size, two_proportion_ztest, wilson_interval
from shared.predictions import model_configs
from shared.predictions.models import ModelConfig, Prediction


class AbTestExistsError(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"an A/B test named {name!r} already exists")


class AbTestStateError(ValueError):
    """The transition is not allowed from the test's current status."""


class UnknownModelConfigError(LookupError):
    def __init__(self, model_config_id: int) -> None:
        super().__init__(f"model config {model_config_id} not found")


class UnknownVariantError(LookupError):
    """The variant is not part of the A/B test it was named for (a 404 to API clients)."""


# --- reads --------------------------------------------------------------------


def get(*, db_session: Session, ab_test_id: int) -> AbTest | None:
    return db_session.get(AbTest, ab_test_id)


def get_all(
    *, db_session: Session, status: AbTestStatus | None = None, limit: int, offset: int
) -> tuple[list[AbTest], int]:
    conditions = [AbTest.status == status] if status is not None else []
    total = db_session.scalar(select(func.count()).select_from(AbTest).where(*conditions))
    tests = db_session.scalars(
        select(AbTest)
        .where(*conditions)
        .order_by(AbTest.created_at.desc(), AbTest.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(tests), int(total or 0)


def _variants_with_models(*, db_session: Session, ab_test_ids: Sequence[int]) -> list[tuple[AbVariant, str]]:
    rows = db_session.execute(
        select(AbVariant, ModelConfig.name)
        .join(ModelConfig, ModelConfig.id == AbVariant.model_config_id)
        .where(AbVariant.ab_test_id.in_(list(ab_test_ids)))
        .order_by(AbVariant.ab_test_id, AbVariant.id)
    ).all()
    return [(row[0], row[1]) for row in rows]


def _variant_outcomes(*, db_session: Session, variant_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Per variant: predictions made, evaluated, hits, mean Brier; one grouped statement."""
    if not variant_ids:
        return {}
    rows = db_session.execute(
        select(
            Prediction.ab_variant_id,
            func.count(Prediction.id).label("predictions"),
            func.count(Evaluation.prediction_id).label("n"),
            func.coalesce(func.sum(cast(Evaluation.correct, Integer)), 0).label("hits"),
            func.avg(Evaluation.brier).label("brier"),
        )
        .outerjoin(Evaluation, Evaluation.prediction_id == Prediction.id)
        .where(Prediction.ab_variant_id.in_(list(variant_ids)))
        .group_by(Prediction.ab_variant_id)
    ).all()
    return {row.ab_variant_id: dict(row._mapping) for row in rows}


def describe(*, db_session: Session, tests: Sequence[AbTest]) -> list[AbTestRead]:
    """Tests with per-variant statistics and comparisons against the control: two statements in all."""
    variants = _variants_with_models(db_session=db_session, ab_test_ids=[test.id for test in tests])
    outcomes = _variant_outcomes(db_session=db_session, variant_ids=[variant.id for variant, _ in variants])
    by_test: dict[int, list[tuple[AbVariant, str]]] = {test.id: [] for test in tests}
    for variant, model_name in variants:
        by_test[variant.ab_test_id].append((variant, model_name))
    return [_describe_one(test, by_test[test.id], outcomes) for test in tests]


def _describe_one(
    test: AbTest, variants: list[tuple[AbVariant, str]], outcomes: dict[int, dict[str, Any]]
) -> AbTestRead:
    total_weight = sum(variant.weight for variant, _ in variants if variant.weight > 0) or 1.0
    stats: list[VariantStats] = []
    for index, (variant, model_name) in enumerate(variants):
        outcome = outcomes.get(variant.id, {})
        n, hits = int(outcome.get("n", 0)), int(outcome.get("hits", 0))
        low, high = wilson_interval(hits, n) if n else (None, None)
        brier = outcome.get("brier")
        stats.append(
            VariantStats(
                id=variant.id,
                name=variant.name,
                model_config_id=variant.model_config_id,
                model_name=model_name,
                weight=variant.weight,
                traffic_share=max(variant.weight, 0.0) / total_weight,
                is_control=index == 0,
                predictions=int(outcome.get("predictions", 0)),
                n=n,
                hits=hits,
                hit_rate=hits / n if n else None,
                hit_rate_low=low,
                hit_rate_high=high,
                brier=float(brier) if brier is not None else None,
            )
        )
    comparisons = [_compare(test, stats[0], other) for other in stats[1:]] if stats else []
    return AbTestRead.model_validate(
        {
            **{column.key: getattr(test, column.key) for column in AbTest.__table__.columns},
            "variants": stats,
            "comparisons": comparisons,
        }
    )


def _compare(test: AbTest, control: VariantStats, variant: VariantStats) -> VariantComparison:
    required = None
    if control.hit_rate is not None:
        required = required_sample_size(control.hit_rate, test.min_detectable_effect, test.alpha, test.power)
    reached = required is not None and min(control.n, variant.n) >= required
    if control.n == 0 or variant.n == 0:
        return VariantComparison(
            variant_id=variant.id,
            control_variant_id=control.id,
            difference=None,
            difference_low=None,
            difference_high=None,
            z=None,
            p_value=None,
            significant=False,
            required_sample_size=required,
            sample_size_reached=False,
        )
    z, p_value = two_proportion_ztest(control.hits, control.n, variant.hits, variant.n)
    difference, low, high = difference_ci(control.hits, control.n, variant.hits, variant.n)
    return VariantComparison(
        variant_id=variant.id,
        control_variant_id=control.id,
        difference=difference,
        difference_low=low,
        difference_high=high,
        z=z,
        p_value=p_value,
        # Peeking at p-values before the planned sample size inflates false positives.
        significant=reached and p_value < test.alpha,
        required_sample_size=required,
        sample_size_reached=reached,
    )


# --- writes -------------------------------------------------------------------


def create(*, db_session: Session, ab_test_in: AbTestCreate) -> AbTest:
    """A draft test with its variants; every variant's model must exist."""
    if db_session.scalars(select(AbTest.id).where(AbTest.name == ab_test_in.name)).first() is not None:
        raise AbTestExistsError(ab_test_in.name)
    for variant_in in ab_test_in.variants:
        if model_configs.get(db_session=db_session, model_config_id=variant_in.model_config_id) is None:
            raise UnknownModelConfigError(variant_in.model_config_id)
    test = AbTest(
        name=ab_test_in.name,
        description=ab_test_in.description,
        min_detectable_effect=ab_test_in.min_detectable_effect,
        alpha=ab_test_in.alpha,
        power=ab_test_in.power,
        status=AbTestStatus.DRAFT,
    )
    db_session.add(test)
    db_session.flush()
    for variant_in in ab_test_in.variants:  # in order: ids follow it, and the first is the control
        db_session.add(AbVariant(ab_test_id=test.id, **variant_in.model_dump()))
        db_session.flush()
    try:
        db_session.commit()
    except IntegrityError as exc:
        db_session.rollback()
        raise AbTestExistsError(ab_test_in.name) from exc
    return test


def _variants(*, db_session: Session, ab_test_id: int) -> list[AbVariant]:
    return list(db_session.scalars(select(AbVariant).where(AbVariant.ab_test_id == ab_test_id).order_by(AbVariant.id)))


def start(*, db_session: Session, test: AbTest, now: datetime | None = None) -> AbTest:
    """draft → running. Predictions are unique per (stock, model, day), so a model can serve
    only one running test at a time, and it must be active for predict to run it."""
    if test.status != AbTestStatus.DRAFT:
        raise AbTestStateError(f"only a draft test can start; this one is {test.status.value}")
    variants = _variants(db_session=db_session, ab_test_id=test.id)
    model_ids = {variant.model_config_id for variant in variants}
    inactive = db_session.scalars(
        select(ModelConfig.name).where(ModelConfig.id.in_(model_ids), ModelConfig.active.is_(False))
    ).all()
    if inactive:
        raise AbTestStateError(f"inactive model(s) {', '.join(sorted(inactive))}: activate them first")
    busy = db_session.scalars(
        select(AbTest.name)
        .join(AbVariant, AbVariant.ab_test_id == AbTest.id)
        .where(AbTest.status == AbTestStatus.RUNNING, AbVariant.model_config_id.in_(model_ids))
        .distinct()
    ).all()
    if busy:
        raise AbTestStateError(f"a model of this test is already in running test(s) {', '.join(sorted(busy))}")
    test.status = AbTestStatus.RUNNING
    test.started_at = now or datetime.now(UTC)
    db_session.commit()
    return test


def stop(*, db_session: Session, test: AbTest, now: datetime | None = None) -> AbTest:
    if test.status != AbTestStatus.RUNNING:
        raise AbTestStateError(f"only a running test can stop; this one is {test.status.value}")
    test.status = AbTestStatus.STOPPED
    test.stopped_at = now or datetime.now(UTC)
    db_session.commit()
    return test


def declare_winner(
    *,
    db_session: Session,
    test: AbTest,
    variant_id: int,
    promote_to_champion: bool = True,
    force: bool = False,
) -> AbTest:
    """Stops the test if it is running; optionally makes the winner's model the champion.

    A test is not called before every variant reaches the required sample size, unless forced.
    """
    if test.status == AbTestStatus.DRAFT:
        raise AbTestStateError("a draft test has no results to declare a winner from")
    if not force:
        [described] = describe(db_session=db_session, tests=[test])
        if not described.comparisons or not all(c.sample_size_reached for c in described.comparisons):
            needed = max((c.required_sample_size or 0 for c in described.comparisons), default=0)
            raise AbTestStateError(
                f"the variants have not reached the required sample size ({needed} scored calls each); "
                "declare with force=true to override"
            )
    variant = next((v for v in _variants(db_session=db_session, ab_test_id=test.id) if v.id == variant_id), None)
    if variant is None:
        raise UnknownVariantError(f"variant {variant_id} is not part of A/B test {test.id}")
    if test.status == AbTestStatus.RUNNING:
        test.status = AbTestStatus.STOPPED
        test.stopped_at = datetime.now(UTC)
    test.winner_variant_id = variant.id
    if promote_to_champion:
        winner_model = model_configs.get(db_session=db_session, model_config_id=variant.model_config_id)
        if winner_model is not None:
            model_configs.make_champion(db_session=db_session, model_config=winner_model)  # commits the lot
            return test
    db_session.commit()
    return test
