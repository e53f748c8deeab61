"""The predict function through its real triggers: schedule → SQS (moto) → SQS batch → notify queue."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import boto3
import pytest
from moto import mock_aws
from sqlalchemy import func, select

from shared.predictions.models import ModelConfig, Prediction
from shared.queues import reset_queue_client


@pytest.fixture
def queues(settings_env: Callable[..., Any]) -> Iterator[dict[str, str]]:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="ap-northeast-2")
        urls = {
            name: sqs.create_queue(QueueName=f"stockinsight-test-{name}")["QueueUrl"] for name in ("predict", "notify")
        }
        settings_env(PREDICT_QUEUE_URL=urls["predict"], NOTIFY_QUEUE_URL=urls["notify"], HIGH_SIGNAL_PROBABILITY="0.55")
        reset_queue_client()
        yield urls
        reset_queue_client()


def _handler() -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    from functions.predict.handler import lambda_handler

    return lambda_handler


def _receive_all(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name="ap-northeast-2")
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
            "Messages", []
        )
        if not batch:
            return messages
        messages.extend(batch)


def _sqs_event(messages: list[dict[str, Any]], queue_url: str) -> dict[str, Any]:
    """The event Lambda's SQS event source builds from received messages."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:ap-northeast-2:123456789012:{queue_url.rsplit('/', 1)[-1]}",
                "awsRegion": "ap-northeast-2",
            }
            for message in messages
        ]
    }


def test_schedule_fans_out_and_queue_batches_are_predicted(
    queues: dict[str, str],
    seed_market: Callable[..., Any],
    db_session: Any,
    redis_client: Any,
    lambda_context: Any,
    load_event: Callable[..., dict[str, Any]],
) -> None:
    seed_market()
    # Make a baseline the champion so that its confident calls are signals.
    handler = _handler()
    scheduled = handler(load_event("predict_run"), lambda_context)
    assert scheduled["status"] == "succeeded"
    assert scheduled["counts"]["enqueued"] == 3  # one batch per baseline model (3 stocks each)
    assert db_session.scalar(select(func.count()).select_from(Prediction)) == 0  # nothing predicted yet

    messages = _receive_all(queues["predict"])
    assert len(messages) == 3
    db_session.execute(ModelConfig.__table__.update().where(ModelConfig.name == "momentum-5d").values(is_champion=True))
    db_session.commit()

    response = handler(_sqs_event(messages, queues["predict"]), lambda_context)
    assert response == {"batchItemFailures": []}
    assert db_session.scalar(select(func.count()).select_from(Prediction)) == 9

    # Momentum's calls on steadily trending closes are confident: they go to the notify queue.
    signals = [json.loads(message["Body"]) for message in _receive_all(queues["notify"])]
    assert signals and all(signal["kind"] == "signal" and signal["model_name"] == "momentum-5d" for signal in signals)

    # Redelivery of the same batch stores nothing new.
    again = handler(_sqs_event(messages, queues["predict"]), lambda_context)
    assert again == {"batchItemFailures": []}
    assert db_session.scalar(select(func.count()).select_from(Prediction)) == 9

    # The scheduled run a second time plans nothing.
    rerun = handler(load_event("predict_run"), lambda_context)
    assert rerun["counts"].get("enqueued", 0) == 0


@pytest.fixture
def planned_work(
    queues: dict[str, str],
    seed_market: Callable[..., Any],
    redis_client: Any,
    lambda_context: Any,
    load_event: Callable[..., dict[str, Any]],
) -> list[dict[str, Any]]:
    """The day's work as the scheduled run put it on the predict queue (three batches)."""
    seed_market()
    _handler()(load_event("predict_run"), lambda_context)
    return _receive_all(queues["predict"])


def test_a_poison_message_fails_alone(
    planned_work: list[dict[str, Any]], queues: dict[str, str], db_session: Any, lambda_context: Any
) -> None:
    handler = _handler()
    messages = planned_work
    poison = dict(messages[0], MessageId="poison-1", Body='{"target_date": "not a date"}')
    event = _sqs_event([poison, *messages], queues["predict"])

    response = handler(event, lambda_context)
    assert response == {"batchItemFailures": [{"itemIdentifier": "poison-1"}]}
    assert db_session.scalar(select(func.count()).select_from(Prediction)) == 9


def test_stored_sqs_event_shape_is_accepted(
    queues: dict[str, str],
    seed_market: Callable[..., Any],
    db_session: Any,
    redis_client: Any,
    lambda_context: Any,
    load_event: Callable[..., dict[str, Any]],
) -> None:
    seed_market()
    from shared.predictions.service import ensure_default_models

    ensure_default_models(db_session=db_session, chat_model="gpt-4o")
    db_session.commit()
    model_id = db_session.scalar(select(ModelConfig.id).where(ModelConfig.name == "momentum-5d"))
    event = load_event("predict_sqs")
    body = json.loads(event["Records"][0]["body"])
    event["Records"][0]["body"] = json.dumps({**body, "model_config_id": model_id})

    assert _handler()(event, lambda_context) == {"batchItemFailures": []}
    stored = db_session.scalars(select(Prediction)).all()
    assert {row.stock_code for row in stored} == {"005930", "000660"}
    assert {row.target_date for row in stored} == {date(2024, 1, 8)}


def test_plain_eventbridge_event_predicts_the_day_of_its_time(
    queues: dict[str, str],
    seed_market: Callable[..., Any],
    redis_client: Any,
    lambda_context: Any,
    load_event: Callable[..., dict[str, Any]],
) -> None:
    seed_market()
    result = _handler()(load_event("eventbridge_scheduled"), lambda_context)
    # 2024-01-07T23:20Z is 08:20 KST on Monday 2024-01-08.
    assert result["run_date"] == "2024-01-08"
    assert result["counts"]["enqueued"] == 3


def test_unknown_job_is_a_clear_error(lambda_context: Any) -> None:
    from shared.events import InvalidEventError

    with pytest.raises(InvalidEventError, match="unknown job 'prices'"):
        _handler()({"job": "prices"}, lambda_context)


def test_a_message_claimed_by_another_invocation_is_retried_not_dropped(
    planned_work: list[dict[str, Any]], queues: dict[str, str], db_session: Any, lambda_context: Any
) -> None:
    from shared.stores.redis import exclusive_lock

    handler = _handler()
    messages = planned_work
    busy = messages[0]["MessageId"]
    with exclusive_lock(f"predict:message:{busy}", ttl_seconds=60) as held:
        assert held
        response = handler(_sqs_event(messages, queues["predict"]), lambda_context)
    assert response == {"batchItemFailures": [{"itemIdentifier": busy}]}
    assert db_session.scalar(select(func.count()).select_from(Prediction)) == 6  # the other two batches


def test_records_run_two_at_a_time_but_gather_their_inputs_one_at_a_time(
    planned_work: list[dict[str, Any]],
    queues: dict[str, str],
    db_session: Any,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading
    import time

    from shared.predictions import workflow

    gather_inputs = workflow.gather_inputs
    lock = threading.Lock()
    gathering = {"now": 0, "most": 0}
    in_flight = {"now": 0, "most": 0}

    def tracked(counter: dict[str, int], function: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            with lock:
                counter["now"] += 1
                counter["most"] = max(counter["most"], counter["now"])
            try:
                time.sleep(0.05)  # long enough for the other record to arrive meanwhile
                return function(*args, **kwargs)
            finally:
                with lock:
                    counter["now"] -= 1

        return run

    monkeypatch.setattr(workflow, "gather_inputs", tracked(gathering, gather_inputs))
    monkeypatch.setattr(workflow, "predict_batch", tracked(in_flight, workflow.predict_batch))

    response = _handler()(_sqs_event(planned_work, queues["predict"]), lambda_context)

    assert response == {"batchItemFailures": []}
    assert db_session.scalar(select(func.count()).select_from(Prediction)) == 9
    assert in_flight["most"] == 2  # predict_records_in_parallel
    assert gathering["most"] == 1
