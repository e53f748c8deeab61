"""Local SQS: moto's server, the template's queues, and Lambda's event source mapping.

Delivery follows what the SQS event source mapping does in AWS: receive up to BatchSize
messages, invoke the consumer with an SQS event, then delete what succeeded. With
`ReportBatchItemFailures` the response's `batchItemFailures` names the failed messages
(an identifier that is not in the batch fails the whole batch); a handler that raises
fails the whole batch. Failed messages become visible again, and after the queue's
`maxReceiveCount` receives moto moves them to the dead-letter queue, as SQS does.
Locally a failed message's visibility is cut to `retry_delay_seconds` (one second by
default) instead of the queue's full VisibilityTimeout, so a retry comes quickly.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.events import LOCAL_REGION, sqs_event
from runner.invoke import Invocation, invoke
from runner.template import FunctionSpec, QueueSpec, SqsEventSource, Template

log = logging.getLogger(__name__)

SQS_RECEIVE_LIMIT = 10
DUMMY_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


class LocalAws:
    """moto in server mode on 127.0.0.1 (port 0 picks a free one), for boto3 via AWS_ENDPOINT_URL."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        from moto.server import ThreadedMotoServer

        # werkzeug logs a line per request to stderr; the functions' own logs are what matter.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self.endpoint_url = ""

    def start(self) -> LocalAws:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def sqs_client(endpoint_url: str | None, *, region: str = LOCAL_REGION) -> Any:
    import boto3

    credentials = DUMMY_CREDENTIALS if endpoint_url else {}
    return boto3.client("sqs", region_name=region, endpoint_url=endpoint_url, **credentials)


@dataclass(frozen=True, slots=True)
class QueueRef:
    logical_id: str
    url: str
    arn: str


def _queue_arn(client: Any, url: str) -> str:
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return str(attributes["QueueArn"])


def create_queues(client: Any, template: Template) -> dict[str, QueueRef]:
    """Every queue of the template, dead-letter queues first so redrive policies can name them."""
    created: dict[str, QueueRef] = {}

    def create(queue: QueueSpec) -> QueueRef:
        if queue.logical_id in created:
            return created[queue.logical_id]
        attributes = dict(queue.attributes)
        if queue.redrive is not None:
            dead_letter = create(template.queue(queue.redrive.dead_letter_queue))
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": dead_letter.arn, "maxReceiveCount": queue.redrive.max_receive_count}
            )
        url = client.create_queue(QueueName=queue.queue_name, Attributes=attributes)["QueueUrl"]
        ref = QueueRef(queue.logical_id, url, _queue_arn(client, url))
        created[queue.logical_id] = ref
        return ref

    for queue in template.queues.values():
        create(queue)
    return created


def find_queues(client: Any, template: Template, environment: Mapping[str, str]) -> dict[str, QueueRef]:
    """Queues that already exist (another process created them): by their `*_QUEUE_URL` or name."""
    urls_from_environment = {
        logical_id: environment[variable]
        for variable, logical_id in template.queue_url_variables().items()
        if environment.get(variable)
    }
    found: dict[str, QueueRef] = {}
    for queue in template.queues.values():
        url = (
            urls_from_environment.get(queue.logical_id) or client.get_queue_url(QueueName=queue.queue_name)["QueueUrl"]
        )
        found[queue.logical_id] = QueueRef(queue.logical_id, url, _queue_arn(client, url))
    return found


def queue_environment(template: Template, queues: Mapping[str, QueueRef]) -> dict[str, str]:
    """PREDICT_QUEUE_URL=… and friends: every variable the template sets to `!Ref <Queue>`."""
    return {variable: queues[logical_id].url for variable, logical_id in template.queue_url_variables().items()}


@dataclass(frozen=True, slots=True)
class QueueDepth:
    visible: int
    in_flight: int
    delayed: int

    @property
    def empty(self) -> bool:
        return self.visible == 0 and self.in_flight == 0 and self.delayed == 0


def queue_depth(client: Any, url: str) -> QueueDepth:
    attributes = client.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return QueueDepth(
        visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
        in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        delayed=int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
    )


Invoker = Callable[[FunctionSpec, dict[str, Any]], Invocation]


def _default_invoker(function: FunctionSpec, event: dict[str, Any]) -> Invocation:
    return invoke(function, event)


@dataclass(slots=True)
class BatchOutcome:
    received: int
    succeeded: list[str]
    failed: list[str]
    error: str | None = None


def failed_message_ids(response: Any, batch_ids: Iterable[str]) -> list[str] | None:
    """The ids a ReportBatchItemFailures response names, or None when it fails the whole batch."""
    ids = list(batch_ids)
    if response is None:
        return []
    if not isinstance(response, Mapping):
        return []
    failures = response.get("batchItemFailures")
    if failures is None:
        return []
    if not isinstance(failures, list):
        return None
    failed: list[str] = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not identifier or identifier not in ids:
            return None
        failed.append(str(identifier))
    return failed


def receive_batch(client: Any, queue: QueueRef, *, batch_size: int) -> list[dict[str, Any]]:
    """Up to `batch_size` messages, in receives of at most ten (SQS's limit per call).

    They stay invisible for the queue's VisibilityTimeout while the batch is processed.
    """
    messages: list[dict[str, Any]] = []
    while len(messages) < batch_size:
        response = client.receive_message(
            QueueUrl=queue.url,
            MaxNumberOfMessages=min(SQS_RECEIVE_LIMIT, batch_size - len(messages)),
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        received = response.get("Messages") or []
        if not received:
            break
        messages.extend(received)
    return messages


def deliver_batch(
    client: Any,
    source: SqsEventSource,
    function: FunctionSpec,
    queue: QueueRef,
    *,
    retry_delay_seconds: int = 1,
    invoker: Invoker = _default_invoker,
    region: str = LOCAL_REGION,
) -> BatchOutcome | None:
    """One poll of the event source mapping: receive, invoke, delete what succeeded."""
    messages = receive_batch(client, queue, batch_size=source.batch_size)
    if not messages:
        return None
    ids = [message["MessageId"] for message in messages]
    event = sqs_event(messages, queue_arn=queue.arn, region=region)
    error: str | None = None
    failed: list[str] | None
    try:
        invocation = invoker(function, event)
    except Exception as exc:
        log.warning("%s failed a batch of %d from %s: %r", function.name, len(ids), queue.logical_id, exc)
        error = f"{type(exc).__name__}: {exc}"
        failed = list(ids)
    else:
        failed = failed_message_ids(invocation.result, ids) if source.report_batch_item_failures else []
        if failed is None:
            error = f"malformed batchItemFailures in {function.name}'s response: {invocation.result!r}"[:500]
            log.warning(error)
            failed = list(ids)
    failed_set = set(failed)
    succeeded = [message for message in messages if message["MessageId"] not in failed_set]
    for start in range(0, len(succeeded), SQS_RECEIVE_LIMIT):
        chunk = succeeded[start : start + SQS_RECEIVE_LIMIT]
        response = client.delete_message_batch(
            QueueUrl=queue.url,
            Entries=[
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]} for index, message in enumerate(chunk)
            ],
        )
        if response.get("Failed"):
            log.warning(
                "could not delete %d messages from %s: %s",
                len(response["Failed"]),
                queue.logical_id,
                response["Failed"],
            )
    retry = [message for message in messages if message["MessageId"] in failed_set]
    for start in range(0, len(retry), SQS_RECEIVE_LIMIT):
        chunk = retry[start : start + SQS_RECEIVE_LIMIT]
        client.change_message_visibility_batch(
            QueueUrl=queue.url,
            Entries=[
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": retry_delay_seconds}
                for index, message in enumerate(chunk)
            ],
        )
    return BatchOutcome(
        received=len(messages), succeeded=[message["MessageId"] for message in succeeded], failed=failed, error=error
    )


@dataclass(slots=True)
class DeliveryReport:
    source: str
    function: str
    queue: str
    invocations: int = 0
    received: int = 0
    delivered: int = 0
    failed: int = 0
    dead_lettered: int = 0
    remaining: int = 0
    errors: list[str] = field(default_factory=list)

    def merge(self, other: DeliveryReport) -> None:
        self.invocations += other.invocations
        self.received += other.received
        self.delivered += other.delivered
        self.failed += other.failed
        self.dead_lettered += other.dead_lettered
        self.remaining = other.remaining
        self.errors.extend(other.errors)


def drain_source(
    client: Any,
    template: Template,
    queues: Mapping[str, QueueRef],
    source: SqsEventSource,
    *,
    retry_delay_seconds: int = 1,
    max_batches: int = 1000,
    max_seconds: float = 600.0,
    poll_interval: float = 0.1,
    invoker: Invoker = _default_invoker,
) -> DeliveryReport:
    """Deliver one event source's queue to its function until the queue is empty (or the bounds hit)."""
    function = template.functions[source.function]
    queue = queues[source.queue]
    queue_spec = template.queue(source.queue)
    dead_letter = queues.get(queue_spec.redrive.dead_letter_queue) if queue_spec.redrive else None
    dead_before = queue_depth(client, dead_letter.url).visible if dead_letter else 0
    report = DeliveryReport(source=source.name, function=function.name, queue=source.queue)
    deadline = time.monotonic() + max_seconds
    while report.invocations < max_batches and time.monotonic() < deadline:
        outcome = deliver_batch(
            client, source, function, queue, retry_delay_seconds=retry_delay_seconds, invoker=invoker
        )
        if outcome is not None:
            report.invocations += 1
            report.received += outcome.received
            report.delivered += len(outcome.succeeded)
            report.failed += len(outcome.failed)
            if outcome.error:
                report.errors.append(outcome.error)
            continue
        depth = queue_depth(client, queue.url)
        if depth.empty:
            break
        # Failed messages are in flight until their visibility timeout ends: wait for them.
        time.sleep(poll_interval)
    final_depth = queue_depth(client, queue.url)
    report.remaining = final_depth.visible + final_depth.in_flight + final_depth.delayed
    if dead_letter is not None:
        report.dead_lettered = max(0, queue_depth(client, dead_letter.url).visible - dead_before)
    return report


def drain(
    client: Any,
    template: Template,
    queues: Mapping[str, QueueRef],
    *,
    function: str | None = None,
    retry_delay_seconds: int = 1,
    max_rounds: int = 20,
    max_batches: int = 1000,
    invoker: Invoker = _default_invoker,
) -> list[DeliveryReport]:
    """Drain every SQS event source (or one function's) until a round delivers nothing.

    Rounds repeat because one consumer feeds another (predict's signals go to the notify queue).
    """
    sources = [source for source in template.sqs_sources if source.enabled]
    if function is not None:
        wanted = template.function(function).logical_id
        sources = [source for source in sources if source.function == wanted]
    totals = {
        source.name: DeliveryReport(source.name, template.functions[source.function].name, source.queue)
        for source in sources
    }
    for _ in range(max_rounds):
        delivered_this_round = 0
        for source in sources:
            report = drain_source(
                client,
                template,
                queues,
                source,
                retry_delay_seconds=retry_delay_seconds,
                max_batches=max_batches,
                invoker=invoker,
            )
            totals[source.name].merge(report)
            delivered_this_round += report.invocations
        if delivered_this_round == 0:
            break
    return list(totals.values())
