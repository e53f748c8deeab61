"""Read-only prediction queries for the API: one statement per page, no N+1.

Every list query selects exactly the columns its schema shows, joined in SQL (stock and
model names, the evaluation), and counts with the same filters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, bindparam, exists, func, select, true
from sqlalchemy.orm import Session

from shared.abtest.models import AbVariant
from shared.config import get_settings
from shared.evaluation.models import Evaluation
from shared.news.models import News
from shared.predictions import list_totals
from shared.predictions.models import ModelConfig, Prediction
from shared.predictions.schemas import PredictionFilters, PredictionSort
from shared.stocks.models import Stock
from shared.stores.redis import cached_json

_SORT_COLUMNS: dict[str, Any] = {
    "target_date": Prediction.target_date,
    "as_of_date": Prediction.as_of_date,
    "probability": Prediction.probability,
    "created_at": Prediction.created_at,
    "id": Prediction.id,
}

_EVALUATION_COLUMNS = (
    Evaluation.prediction_id.label("evaluation_id"),
    Evaluation.correct,
    Evaluation.actual_return,
    Evaluation.realized_direction,
    Evaluation.brier,
)

_LIST_COLUMNS = (
    Prediction.id,
    Prediction.stock_code,
    Stock.name.label("stock_name"),
    Stock.market,
    Prediction.model_config_id,
    ModelConfig.name.label("model_name"),
    Prediction.ab_variant_id,
    Prediction.as_of_date,
    Prediction.target_date,
    Prediction.status,
    Prediction.direction,
    Prediction.probability,
    Prediction.expected_return,
    Prediction.created_at,
)


# Each filter's condition, comparing against a bound parameter named after the filter:
# a statement depends only on which filters are set (and the sort), so it is built once
# per such shape and reused, with SQLAlchemy's cache key memoized on it.
_FILTER_CONDITIONS: dict[str, Callable[[], ColumnElement[bool]]] = {
    "stock_code": lambda: Prediction.stock_code == bindparam("stock_code"),
    "model_config_id": lambda: Prediction.model_config_id == bindparam("model_config_id"),
    "ab_variant_id": lambda: Prediction.ab_variant_id == bindparam("ab_variant_id"),
    "as_of_from": lambda: Prediction.as_of_date >= bindparam("as_of_from"),
    "as_of_to": lambda: Prediction.as_of_date <= bindparam("as_of_to"),
    "target_from": lambda: Prediction.target_date >= bindparam("target_from"),
    "target_to": lambda: Prediction.target_date <= bindparam("target_to"),
    "direction": lambda: Prediction.direction == bindparam("direction"),
    "status": lambda: Prediction.status == bindparam("status"),
    "min_probability": lambda: Prediction.probability >= bindparam("min_probability"),
}


def _bound_filters(filters: PredictionFilters) -> dict[str, Any]:
    return {name: value for name in _FILTER_CONDITIONS if (value := getattr(filters, name)) is not None}


def _conditions(names: tuple[str, ...], evaluated: bool | None) -> list[ColumnElement[bool]]:
    conditions = [_FILTER_CONDITIONS[name]() for name in names]
    if evaluated is not None:
        has_evaluation = (
            select(Evaluation.prediction_id)
            .where(Evaluation.prediction_id == Prediction.id)
            .correlate(Prediction)
            .exists()
        )
        conditions.append(has_evaluation if evaluated else ~has_evaluation)
    return conditions


def _order_by(sort: PredictionSort, *, probability_filtered: bool) -> list[Any]:
    """Sort plus a tie-break on id, written so Postgres can walk an index instead of sorting.

    Only probability can be NULL (failed calls): NULLs go last, unless the filter already
    excludes them, in which case the plain order lets the probability index serve it.
    """
    descending = sort.value.startswith("-")
    column = _SORT_COLUMNS[sort.value.lstrip("-")]
    primary = column.desc() if descending else column.asc()
    if column is Prediction.probability and not probability_filtered:
        primary = primary.nulls_last()
    if column is Prediction.id:
        return [primary]
    return [primary, Prediction.id.desc() if descending else Prediction.id.asc()]


def _with_names(statement: Select[*tuple[Any, ...]]) -> Select[*tuple[Any, ...]]:
    return (
        statement.join(Stock, Stock.code == Prediction.stock_code)
        .join(ModelConfig, ModelConfig.id == Prediction.model_config_id)
        .outerjoin(Evaluation, Evaluation.prediction_id == Prediction.id)
    )


def _row_to_dict(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    evaluation_id = data.pop("evaluation_id", None)
    evaluation = {key: data.pop(key) for key in ("correct", "actual_return", "realized_direction", "brier")}
    data["evaluation"] = evaluation if evaluation_id is not None else None
    return data


@lru_cache(maxsize=256)
def _list_statements(
    names: tuple[str, ...], evaluated: bool | None, sort: PredictionSort
) -> tuple[Select[int], Select[*tuple[Any, ...]]]:
    """The count and the page for one shape of filters; limit and offset are parameters too."""
    conditions = _conditions(names, evaluated)
    count = select(func.count()).select_from(Prediction).where(*conditions)
    page = (
        _with_names(select(*_LIST_COLUMNS, *_EVALUATION_COLUMNS))
        .where(*conditions)
        .order_by(*_order_by(sort, probability_filtered="min_probability" in names))
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
    )
    return count, page


def list_predictions(
    *,
    db_session: Session,
    filters: PredictionFilters,
    sort: PredictionSort = PredictionSort.TARGET_DATE_DESC,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    parameters = _bound_filters(filters)
    count, page = _list_statements(tuple(parameters), filters.evaluated, sort)
    total = _total(db_session=db_session, count=count, parameters=parameters, evaluated=filters.evaluated)
    rows = db_session.execute(page, {**parameters, "limit": limit, "offset": offset}).all()
    return [_row_to_dict(row) for row in rows], total


def _total(*, db_session: Session, count: Select[int], parameters: dict[str, Any], evaluated: bool | None) -> int:
    """The filter's row count; a large one comes from Redis while no prediction or evaluation
    was written since (both writers invalidate the namespace), a small one is just counted."""
    settings = get_settings()
    key = (evaluated, *sorted((name, str(value)) for name, value in parameters.items()))
    return cached_json(
        list_totals.NAMESPACE,
        (hashlib.sha256(repr(key).encode()).hexdigest()[:32],),
        settings.prediction_count_cache_seconds,
        lambda: int(db_session.scalar(count, parameters) or 0),
        worth_caching=lambda total: total >= settings.prediction_count_cache_min_rows,
    )


# Built once: a statement object is also where SQLAlchemy memoizes its cache key, so the
# detail (the most requested read after the list) skips rebuilding and re-keying per call.
_DETAIL = (
    select(
        Prediction,
        Stock.name.label("stock_name"),
        Stock.market,
        ModelConfig.name.label("model_name"),
        AbVariant.name.label("ab_variant_name"),
        AbVariant.ab_test_id,
        Evaluation,
    )
    .join(Stock, Stock.code == Prediction.stock_code)
    .join(ModelConfig, ModelConfig.id == Prediction.model_config_id)
    .outerjoin(AbVariant, AbVariant.id == Prediction.ab_variant_id)
    .outerjoin(Evaluation, Evaluation.prediction_id == Prediction.id)
    .where(Prediction.id == bindparam("prediction_id"))
)
_EVIDENCE = (
    select(News)
    .where(News.id.in_(bindparam("news_ids", expanding=True)))
    .order_by(News.published_at.desc(), News.id.desc())
)


def get_prediction_detail(*, db_session: Session, prediction_id: int) -> dict[str, Any] | None:
    """A prediction with its names, evaluation, A/B variant and evidence news: two statements."""
    row = db_session.execute(_DETAIL, {"prediction_id": prediction_id}).one_or_none()
    if row is None:
        return None
    prediction: Prediction = row.Prediction
    evidence: Sequence[News] = []
    if prediction.evidence_news_ids:
        evidence = db_session.scalars(_EVIDENCE, {"news_ids": list(prediction.evidence_news_ids)}).all()
    return {
        **{column.key: getattr(prediction, column.key) for column in Prediction.__table__.columns},
        "stock_name": row.stock_name,
        "market": row.market,
        "model_name": row.model_name,
        "ab_variant_name": row.ab_variant_name,
        "ab_test_id": row.ab_test_id,
        "evaluation": row.Evaluation,
        "evidence": list(evidence),
    }


def latest_per_stock(
    *,
    db_session: Session,
    stock_code: str | None = None,
    model_config_id: int | None = None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """Each stock's most recent call (latest target date; champion model first, then confidence).

    A page of stocks, each joined LATERAL to its single newest prediction: one index probe
    per stock on (stock_code, target_date), however many predictions there are.
    """
    model_condition = [Prediction.model_config_id == model_config_id] if model_config_id is not None else []
    latest = (
        select(Prediction.id)
        .join(ModelConfig, ModelConfig.id == Prediction.model_config_id)
        .where(Prediction.stock_code == Stock.code, *model_condition)
        .order_by(
            Prediction.target_date.desc(),
            ModelConfig.is_champion.desc(),
            Prediction.probability.desc().nulls_last(),
            Prediction.id.desc(),
        )
        .limit(1)
        .correlate(Stock)
        .lateral("latest")
    )
    stock_condition = [Stock.code == stock_code] if stock_code is not None else []
    has_predictions = exists().where(Prediction.stock_code == Stock.code, *model_condition)
    total = db_session.scalar(select(func.count()).select_from(Stock).where(has_predictions, *stock_condition))
    page_ids = (
        select(Stock.code, latest.c.id.label("prediction_id"))
        .join(latest, true())
        .where(*stock_condition)
        .order_by(Stock.code)
        .limit(limit)
        .offset(offset)
        .subquery("page")
    )
    rows = db_session.execute(
        _with_names(select(*_LIST_COLUMNS, *_EVALUATION_COLUMNS))
        .join(page_ids, page_ids.c.prediction_id == Prediction.id)
        .order_by(Prediction.stock_code)
    ).all()
    return [_row_to_dict(row) for row in rows], int(total or 0)
