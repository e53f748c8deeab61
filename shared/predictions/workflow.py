"""The predict function's work: plan (stock × model) units, fan them out, predict, store, signal.

The scheduled run plans the target day's work and sends it to the predict queue in
batches; the same function consumes the queue. Work is partitioned by stock and model, so
any batch can run anywhere, in any order, twice.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from shared.abtest.assignment import assign_variant
from shared.config import get_settings
from shared.db.session import session_scope
from shared.events import ScheduledJob
from shared.jobs.service import JobCounts, JobResult, run_job
from shared.market_calendar import is_trading_day, previous_trading_day
from shared.notifications.messages import SignalMessage
from shared.predictions import list_totals
from shared.predictions import service as prediction_service
from shared.predictions.inputs import PredictionInput, gather_inputs
from shared.predictions.models import ModelConfig, ModelKind, Prediction
from shared.predictions.predictors import (
    PredictionFailed,
    PredictionOutcome,
    Predictor,
    TransientModelError,
    predictor_for,
)
from shared.queues import send_json_messages
from shared.stocks.models import Stock

log = logging.getLogger(__name__)


class PredictWork(BaseModel):
    """One message on the predict queue: one model for a batch of stocks on one target day."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target_date: date
    as_of_date: date
    model_config_id: int
    ab_variant_id: int | None = None
    stock_codes: list[str] = Field(min_length=1, max_length=1000)


@dataclass(frozen=True, slots=True)
class _Unit:
    stock_code: str
    model_config_id: int
    ab_variant_id: int | None


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def plan_work(*, target_date: date, counts: JobCounts) -> list[PredictWork]:
    """Every (stock, model) unit for the day not yet predicted, batched per model and variant."""
    settings = get_settings()
    as_of_date = previous_trading_day(target_date)
    with session_scope() as db_session:
        prediction_service.ensure_default_models(db_session=db_session, chat_model=settings.openai_chat_model)
        stock_codes = list(db_session.scalars(select(Stock.code).where(Stock.active).order_by(Stock.code)))
        models = prediction_service.active_model_configs(db_session=db_session)
        tests = prediction_service.running_ab_tests(db_session=db_session)
        tested_models = set().union(*(test.model_config_ids for test in tests)) if tests else set()
        active_ids = {model.id for model in models}

        units: list[_Unit] = []
        for code in stock_codes:
            for test in tests:
                variant = assign_variant(test.test_id, code, test.variants)
                if variant.model_config_id in active_ids:
                    units.append(_Unit(code, variant.model_config_id, variant.id))
            units.extend(_Unit(code, model.id, None) for model in models if model.id not in tested_models)

        kinds = {model.id: model.kind for model in models}
        grouped: dict[tuple[int, int | None], list[str]] = defaultdict(list)
        for unit in units:
            if kinds[unit.model_config_id] == ModelKind.LLM and not settings.llm_enabled:
                counts["skipped_llm_disabled"] += 1
                continue
            grouped[(unit.model_config_id, unit.ab_variant_id)].append(unit.stock_code)

        work: list[PredictWork] = []
        for (model_id, variant_id), codes in sorted(grouped.items(), key=lambda item: (item[0][0], item[0][1] or 0)):
            done = prediction_service.existing_stock_codes(
                db_session=db_session, model_config_id=model_id, target_date=target_date
            )
            pending = [code for code in codes if code not in done]
            counts["already_predicted"] += len(codes) - len(pending)
            size = settings.predict_batch_size if kinds[model_id] == ModelKind.LLM else settings.baseline_batch_size
            work.extend(
                PredictWork(
                    target_date=target_date,
                    as_of_date=as_of_date,
                    model_config_id=model_id,
                    ab_variant_id=variant_id,
                    stock_codes=chunk,
                )
                for chunk in _chunks(pending, size)
            )
    counts["stocks"] = len(stock_codes)
    counts["units_planned"] = sum(len(item.stock_codes) for item in work)
    counts["messages"] = len(work)
    return work


def schedule_predictions(job: ScheduledJob, *, request_id: str | None = None) -> JobResult:
    """The scheduled `run`: plan the target day and fan the work out through the predict queue."""
    target_date = job.date

    def work(counts: JobCounts) -> dict[str, Any]:
        if not is_trading_day(target_date):
            counts["skipped_non_trading_day"] += 1
            return {"target_date": target_date.isoformat()}
        batches = plan_work(target_date=target_date, counts=counts)
        queue_url = get_settings().predict_queue_url
        if queue_url:
            counts["enqueued"] += send_json_messages(queue_url, [batch.model_dump(mode="json") for batch in batches])
        else:
            # No queue configured (a single-process setup): do the work here, in order.
            log.warning("PREDICT_QUEUE_URL is not set; predicting inline")
            for batch in batches:
                predict_batch(batch, counts)
        return {"target_date": target_date.isoformat()}

    return run_job(function="predict", job="run", run_date=target_date.isoformat(), work=work, request_id=request_id)


def _predict_one(predictor: Predictor, prediction_input: PredictionInput) -> PredictionOutcome:
    try:
        return predictor.predict(prediction_input)
    except (PredictionFailed, TransientModelError):
        raise
    except Exception as exc:  # a predictor bug is stored as a failed prediction, with its reason
        raise PredictionFailed(f"{type(exc).__name__}: {str(exc)[:500]}") from exc


def predict_batch(
    work: PredictWork,
    counts: JobCounts,
    *,
    llm_pool: Executor | None = None,
    gathering: AbstractContextManager[Any] | None = None,
) -> list[Prediction]:
    """Predict and store one batch; returns the newly stored predictions (high-signal ones are queued).

    `llm_pool` runs the model calls when several batches share one invocation's concurrency;
    `gathering` is held while the batch reads its inputs (see `consume_predict_batch`).
    """
    settings = get_settings()
    with gathering or nullcontext(), session_scope() as db_session:
        model_config = db_session.get(ModelConfig, work.model_config_id)
        if model_config is None or not model_config.active:
            counts["skipped_inactive_model"] += len(work.stock_codes)
            return []
        done = prediction_service.existing_stock_codes(
            db_session=db_session,
            model_config_id=model_config.id,
            target_date=work.target_date,
            stock_codes=work.stock_codes,
        )
        counts["already_predicted"] += len(done)
        stocks = {
            stock.code: stock
            for stock in db_session.scalars(
                select(Stock).where(Stock.code.in_([code for code in work.stock_codes if code not in done]))
            )
        }
        missing = [code for code in work.stock_codes if code not in done and code not in stocks]
        counts["skipped_unknown_stock"] += len(missing)
        predictor = predictor_for(model_config)
        news_k = int(model_config.params.get("news_k", settings.news_top_k)) if predictor.uses_news else 0
        inputs = gather_inputs(
            db_session=db_session,
            stocks=[stocks[code] for code in work.stock_codes if code in stocks],
            as_of_date=work.as_of_date,
            target_date=work.target_date,
            history_days=settings.price_history_days,
            news_k=news_k,
        )
        is_llm = model_config.kind == ModelKind.LLM
        budget_left = None
        if is_llm:
            spent = prediction_service.llm_spend_on(db_session=db_session, target_date=work.target_date)
            budget_left = Decimal(str(settings.llm_daily_budget_usd)) - spent
        db_session.expunge(model_config)

    if is_llm and budget_left is not None and budget_left <= 0:
        counts["skipped_budget"] += len(inputs)
        log.warning("LLM daily budget spent; skipping LLM work", extra={"target_date": str(work.target_date)})
        return []

    records = _run_predictors(
        model_config,
        predictor,
        inputs,
        work,
        concurrency=settings.llm_concurrency if is_llm else 1,
        pool=llm_pool if is_llm else None,
    )

    with session_scope() as db_session:
        stored = prediction_service.store_predictions(db_session=db_session, records=records)
        counts["inserted"] += len(stored)
        counts["failed_predictions"] += sum(1 for record in records if record.outcome is None)
        counts["cost_microusd"] += int(sum((record.cost_usd for record in records), Decimal(0)) * 1_000_000)
        counts["tokens"] += sum(record.prompt_tokens + record.completion_tokens for record in records)
        # Signals come from every stored prediction of the batch, not only the new ones: if
        # an earlier delivery stored them but failed to queue its signals, this one does;
        # notify deduplicates by prediction and chat.
        batch_predictions = db_session.scalars(
            select(Prediction).where(
                Prediction.model_config_id == model_config.id,
                Prediction.target_date == work.target_date,
                Prediction.stock_code.in_(work.stock_codes),
            )
        )
        names = {code: stock.name for code, stock in stocks.items()}
        signals = [
            _signal(prediction, model_config, names.get(prediction.stock_code, prediction.stock_code))
            for prediction in batch_predictions
            if prediction_service.is_high_signal(prediction, model_config, threshold=settings.high_signal_probability)
        ]
    if stored:
        list_totals.invalidate()  # after the commit: a total counted now includes them
    if signals:
        _queue_signals(signals, counts)
    return stored


def _run_predictors(
    model_config: ModelConfig,
    predictor: Predictor,
    inputs: list[PredictionInput],
    work: PredictWork,
    *,
    concurrency: int,
    pool: Executor | None = None,
) -> list[prediction_service.PredictionRecord]:
    def one(prediction_input: PredictionInput) -> prediction_service.PredictionRecord:
        base = prediction_service.PredictionRecord(
            stock_code=prediction_input.stock_code,
            model_config_id=model_config.id,
            ab_variant_id=work.ab_variant_id,
            as_of_date=work.as_of_date,
            target_date=work.target_date,
            prompt_version=model_config.prompt_version,
        )
        try:
            outcome = _predict_one(predictor, prediction_input)
        except PredictionFailed as failure:
            return replace(
                base,
                error=failure.reason,
                prompt_tokens=failure.prompt_tokens,
                completion_tokens=failure.completion_tokens,
                cost_usd=failure.cost_usd,
            )
        return replace(
            base,
            outcome=outcome,
            prompt_tokens=outcome.prompt_tokens,
            completion_tokens=outcome.completion_tokens,
            cost_usd=outcome.cost_usd,
        )

    if pool is not None:
        return list(pool.map(one, inputs))
    if concurrency <= 1 or len(inputs) <= 1:
        return [one(item) for item in inputs]
    # Bounded concurrency for network-bound model calls; a transient error fails the whole
    # message (it is redelivered), and what was stored meanwhile is skipped next time.
    with ThreadPoolExecutor(max_workers=min(concurrency, len(inputs))) as pool:
        return list(pool.map(one, inputs))


def _signal(prediction: Prediction, model_config: ModelConfig, stock_name: str) -> SignalMessage:
    assert prediction.direction is not None and prediction.probability is not None
    return SignalMessage(
        prediction_id=prediction.id,
        stock_code=prediction.stock_code,
        stock_name=stock_name,
        model_name=model_config.name,
        direction=prediction.direction.value,
        probability=prediction.probability,
        expected_return=prediction.expected_return,
        rationale=prediction.rationale[:500],
        target_date=prediction.target_date,
    )


def _queue_signals(signals: list[SignalMessage], counts: JobCounts) -> None:
    queue_url = get_settings().notify_queue_url
    if not queue_url:
        log.warning("NOTIFY_QUEUE_URL is not set; high-signal predictions are not sent", extra={"count": len(signals)})
        counts["signals_not_queued"] += len(signals)
        return
    counts["signals_queued"] += send_json_messages(queue_url, [signal.model_dump(mode="json") for signal in signals])


def consume_predict_batch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SQS batch: each record is one `PredictWork`; failures are reported per record.

    Records run `predict_records_in_parallel` at a time and share one pool of
    `llm_concurrency` model calls, so one record's database and retrieval work overlaps
    another's calls while the invocation's call concurrency stays bounded. One record
    gathers its inputs at a time: at the start of an invocation the first record's calls
    begin after its own gathering, not after both records' gathering competed for the CPU
    and the connections (the second gathers while those calls run). A record is
    claimed with a Redis lock on its message id while it is worked on, so a duplicate
    delivery running at the same moment (SQS is at-least-once) fails and comes back later
    instead of paying for the same model calls twice.
    """
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    settings = get_settings()
    processor = BatchProcessor(event_type=EventType.SQS)
    records = event.get("Records", [])
    run_date = _target_date_of(records[0].get("body", "")) if records else None
    request_id = getattr(context, "aws_request_id", None)
    outcome: dict[str, Any] = {}

    def work(counts: JobCounts) -> dict[str, Any]:
        errors: dict[str, BaseException] = {}
        gathering = threading.Lock()
        with (
            ThreadPoolExecutor(max_workers=settings.llm_concurrency, thread_name_prefix="llm") as llm_pool,
            ThreadPoolExecutor(
                max_workers=max(1, min(settings.predict_records_in_parallel, len(records))),
                thread_name_prefix="record",
            ) as record_pool,
        ):
            futures = {
                str(record.get("messageId")): record_pool.submit(_predict_record, record, llm_pool, gathering)
                for record in records
            }
            for message_id, future in futures.items():
                record_counts, error = future.result()
                counts.update(record_counts)
                if error is not None:
                    errors[message_id] = error

        def record_handler(record: SQSRecord) -> None:
            # The work is done above; this reports each record's outcome the Powertools way.
            if record.message_id in errors:
                raise errors[record.message_id]

        response = process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
        counts["records"] += len(records)
        counts["record_failures"] += len(response.get("batchItemFailures", []))
        outcome.update(response)
        return {}

    # One job_runs row per invocation. Its lock is keyed by the invocation, never contended:
    # a skipped run would report its whole batch as processed.
    run_job(
        function="predict",
        job="work",
        run_date=run_date,
        work=work,
        request_id=request_id,
        lock_key=request_id or uuid.uuid4().hex,
    )
    return {"batchItemFailures": outcome.get("batchItemFailures", [])}


def _predict_record(
    record: dict[str, Any], llm_pool: Executor, gathering: AbstractContextManager[Any]
) -> tuple[JobCounts, BaseException | None]:
    """One SQS record's work with counts of its own (merged by the caller, not shared between threads)."""
    from shared.stores.redis import exclusive_lock

    counts = JobCounts()
    message_id = str(record.get("messageId"))
    try:
        batch = PredictWork.model_validate_json(record.get("body") or "")
        with exclusive_lock(f"predict:message:{message_id}", ttl_seconds=900) as claimed:
            if not claimed:
                counts["records_in_progress_elsewhere"] += 1
                raise RuntimeError(f"message {message_id} is being processed by another invocation")
            predict_batch(batch, counts, llm_pool=llm_pool, gathering=gathering)
    except Exception as exc:  # reported as this record's failure; the others go on
        log.warning("predict record failed", extra={"message_id": message_id, "error": str(exc)[:300]})
        return counts, exc
    return counts, None


def _target_date_of(body: str) -> str | None:
    try:
        return PredictWork.model_validate_json(body).target_date.isoformat()
    except ValueError:
        return None
