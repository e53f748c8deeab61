"""SQS delivery against moto's server: partial batch failures, redelivery, dead-lettering."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from runner.invoke import Invocation, load_handler
from runner.sqs import (
    QueueRef,
    deliver_batch,
    drain,
    drain_source,
    failed_message_ids,
    queue_depth,
    queue_environment,
)
from runner.template import FunctionSpec, Template


def _send(sqs: Any, queue: QueueRef, *bodies: str) -> None:
    for body in bodies:
        sqs.send_message(
            QueueUrl=queue.url,
            MessageBody=body,
            MessageAttributes={"origin": {"DataType": "String", "StringValue": "test"}},
        )


def _delivered(template: Template) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = load_handler(template.function("consumer")).__globals__["DELIVERED"]
    return records


def test_queues_are_created_with_their_redrive_policy(sqs: Any, work_queues: dict[str, QueueRef]) -> None:
    work, dead_letter = work_queues["WorkQueue"], work_queues["WorkDeadLetterQueue"]
    assert dead_letter.arn.endswith(":WorkDeadLetterQueue")
    attributes = sqs.get_queue_attributes(QueueUrl=work.url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "60"
    assert json.loads(attributes["RedrivePolicy"]) == {"deadLetterTargetArn": dead_letter.arn, "maxReceiveCount": 2}


def test_queue_url_variables_point_at_the_created_queues(
    fixture_template: Template, work_queues: dict[str, QueueRef]
) -> None:
    assert queue_environment(fixture_template, work_queues) == {"WORK_QUEUE_URL": work_queues["WorkQueue"].url}


def test_records_reach_the_consumer_in_lambdas_shape(
    sqs: Any, fixture_template: Template, work_queues: dict[str, QueueRef]
) -> None:
    work = work_queues["WorkQueue"]
    _send(sqs, work, "hello")
    (source,) = fixture_template.sqs_sources
    outcome = deliver_batch(sqs, source, fixture_template.function("consumer"), work, retry_delay_seconds=0)
    assert outcome is not None and (outcome.received, len(outcome.succeeded), outcome.failed) == (1, 1, [])
    (record,) = _delivered(fixture_template)
    assert record["body"] == "hello"
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == work.arn
    assert record["awsRegion"] == "ap-northeast-2"
    assert record["messageAttributes"]["origin"]["stringValue"] == "test"
    assert {"ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(
        record["attributes"]
    )
    assert queue_depth(sqs, work.url).empty


def test_partial_batch_failure_redelivers_only_the_failed_message(
    sqs: Any, fixture_template: Template, work_queues: dict[str, QueueRef]
) -> None:
    work = work_queues["WorkQueue"]
    _send(sqs, work, "ok-1", "fail-once", "ok-2")
    (source,) = fixture_template.sqs_sources
    report = drain_source(sqs, fixture_template, work_queues, source, retry_delay_seconds=0)
    seen = Counter(record["body"] for record in _delivered(fixture_template))
    assert seen == {"ok-1": 1, "ok-2": 1, "fail-once": 2}
    assert (report.delivered, report.failed, report.dead_lettered, report.remaining) == (3, 1, 0, 0)
    assert report.invocations == 2
    second_try = [record for record in _delivered(fixture_template) if record["body"] == "fail-once"][1]
    assert second_try["attributes"]["ApproximateReceiveCount"] == "2"


def test_a_poison_message_ends_in_the_dead_letter_queue_after_max_receives(
    sqs: Any, fixture_template: Template, work_queues: dict[str, QueueRef]
) -> None:
    work, dead_letter = work_queues["WorkQueue"], work_queues["WorkDeadLetterQueue"]
    _send(sqs, work, "poison", "fine")
    (source,) = fixture_template.sqs_sources
    report = drain_source(sqs, fixture_template, work_queues, source, retry_delay_seconds=0)
    seen = Counter(record["body"] for record in _delivered(fixture_template))
    assert seen == {"poison": 2, "fine": 1}  # maxReceiveCount: 2
    assert (report.delivered, report.failed, report.dead_lettered, report.remaining) == (1, 2, 1, 0)
    moved = sqs.receive_message(QueueUrl=dead_letter.url, MaxNumberOfMessages=10)["Messages"]
    assert [message["Body"] for message in moved] == ["poison"]


def test_a_handler_that_raises_deletes_nothing(
    sqs: Any, fixture_template: Template, work_queues: dict[str, QueueRef]
) -> None:
    work = work_queues["WorkQueue"]
    _send(sqs, work, "crash")
    (source,) = fixture_template.sqs_sources
    outcome = deliver_batch(sqs, source, fixture_template.function("consumer"), work, retry_delay_seconds=30)
    assert outcome is not None
    assert outcome.succeeded == [] and len(outcome.failed) == 1
    assert outcome.error == "RuntimeError: the consumer crashed"
    depth = queue_depth(sqs, work.url)
    assert (depth.visible, depth.in_flight) == (0, 1)


def test_an_unknown_item_identifier_fails_the_whole_batch(
    sqs: Any, fixture_template: Template, work_queues: dict[str, QueueRef]
) -> None:
    work = work_queues["WorkQueue"]
    _send(sqs, work, "a", "b")
    (source,) = fixture_template.sqs_sources

    def answer_with_a_stranger(function: FunctionSpec, event: dict[str, Any]) -> Invocation:
        return Invocation(function.name, "r", {"batchItemFailures": [{"itemIdentifier": "stranger"}]}, 1.0)

    outcome = deliver_batch(
        sqs, source, fixture_template.function("consumer"), work, retry_delay_seconds=0, invoker=answer_with_a_stranger
    )
    assert outcome is not None and outcome.succeeded == [] and len(outcome.failed) == 2
    assert outcome.error is not None and "malformed batchItemFailures" in outcome.error
    assert queue_depth(sqs, work.url).visible == 2


def test_batches_respect_the_batch_size(sqs: Any, fixture_template: Template, work_queues: dict[str, QueueRef]) -> None:
    work = work_queues["WorkQueue"]
    _send(sqs, work, *(f"m{index}" for index in range(12)))
    sizes: list[int] = []

    def count(function: FunctionSpec, event: dict[str, Any]) -> Invocation:
        sizes.append(len(event["Records"]))
        return Invocation(function.name, "r", None, 1.0)

    (report,) = drain(sqs, fixture_template, work_queues, function="consumer", retry_delay_seconds=0, invoker=count)
    assert max(sizes) <= 5 and sum(sizes) == 12  # BatchSize: 5
    assert (report.delivered, report.remaining) == (12, 0)


def test_drain_of_empty_queues_invokes_nothing(
    fixture_template: Template, sqs: Any, work_queues: dict[str, QueueRef]
) -> None:
    (report,) = drain(sqs, fixture_template, work_queues, retry_delay_seconds=0)
    assert (report.invocations, report.delivered, report.remaining) == (0, 0, 0)
    assert _delivered(fixture_template) == []


def test_failed_message_ids_follow_report_batch_item_failures() -> None:
    ids = ["a", "b"]
    assert failed_message_ids(None, ids) == []
    assert failed_message_ids({}, ids) == []
    assert failed_message_ids({"batchItemFailures": []}, ids) == []
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "b"}]}, ids) == ["b"]
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": ""}]}, ids) is None
    assert failed_message_ids({"batchItemFailures": [{}]}, ids) is None
    assert failed_message_ids({"batchItemFailures": "b"}, ids) is None
