"""The events AWS delivers to a function, built exactly as the trigger sends them.

- API Gateway HTTP API, payload format 2.0 (what Mangum's HTTPGateway reads),
- SQS through a Lambda event source mapping (`Records[*]`, camelCase attribute names),
- EventBridge Scheduler with an `Input` (the Input JSON itself) and a plain EventBridge
  "Scheduled Event" (what a rule without Input sends; handlers use its `time`).
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote
from zoneinfo import ZoneInfo

LOCAL_ACCOUNT_ID = "123456789012"
LOCAL_REGION = "ap-northeast-2"
LOCAL_API_ID = "local"
# "As on day D" for a plain scheduled event: midday in Seoul is D whatever the handler's tz math.
KST_NOON = dt.time(12, 0, tzinfo=ZoneInfo("Asia/Seoul"))

# Content types API Gateway passes through as text; anything else arrives base64-encoded.
_TEXT_TYPES = (
    "text/",
    "application/json",
    "application/xml",
    "application/javascript",
    "application/x-www-form-urlencoded",
)
_TEXT_SUFFIXES = ("+json", "+xml")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# --------------------------------------------------------------------------- HTTP API v2


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One HTTP request as the gateway received it (path and query still percent-encoded)."""

    method: str
    raw_path: str
    raw_query: str
    headers: Sequence[tuple[str, str]]
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"


def is_text_content(content_type: str | None) -> bool:
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type.startswith(_TEXT_TYPES) or media_type.endswith(_TEXT_SUFFIXES)


def _request_time(moment: dt.datetime) -> str:
    """API Gateway's `requestContext.time`: 12/Mar/2020:19:03:58 +0000, locale-independent."""
    utc = moment.astimezone(dt.UTC)
    return f"{utc.day:02d}/{_MONTHS[utc.month - 1]}/{utc.year}:{utc:%H:%M:%S} +0000"


def _joined_headers(headers: Iterable[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    """Lower-cased headers with repeats comma-joined; cookies split out as the v2 format does."""
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined, cookies


def _query_parameters(raw_query: str) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        parameters[key] = f"{parameters[key]},{value}" if key in parameters else value
    return parameters


def http_api_event(
    request: HttpRequest,
    *,
    route_key: str = "$default",
    path_parameters: Mapping[str, str] | None = None,
    stage: str = "$default",
    api_id: str = LOCAL_API_ID,
    account_id: str = LOCAL_ACCOUNT_ID,
    request_id: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload v2.0 event for one request."""
    moment = now or dt.datetime.now(dt.UTC)
    headers, cookies = _joined_headers(request.headers)
    domain_name = headers.get("host", "localhost")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": account_id,
            "apiId": api_id,
            "domainName": domain_name,
            "domainPrefix": domain_name.split(".", 1)[0],
            "http": {
                "method": request.method.upper(),
                "path": request.raw_path,
                "protocol": request.protocol,
                "sourceIp": request.source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id or str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": stage,
            "time": _request_time(moment),
            "timeEpoch": int(moment.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if request.raw_query:
        event["queryStringParameters"] = _query_parameters(request.raw_query)
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if request.body:
        if is_text_content(headers.get("content-type")):
            try:
                event["body"] = request.body.decode("utf-8")
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(request.body).decode("ascii")
                event["isBase64Encoded"] = True
        else:
            event["body"] = base64.b64encode(request.body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


@dataclass(frozen=True, slots=True)
class RouteMatch:
    route_key: str
    path_parameters: dict[str, str]


def match_route(method: str, raw_path: str, routes: Iterable[tuple[str, str]]) -> RouteMatch | None:
    """The first (method, path) route that serves a request, the way HTTP API routes match.

    `{name}` takes one path segment, `{name+}` the rest of the path; `$default` takes all.
    """
    segments = [unquote(part) for part in raw_path.strip("/").split("/")] if raw_path.strip("/") else []
    best: RouteMatch | None = None
    for route_method, route_path in routes:
        if route_method not in ("ANY", method.upper()):
            continue
        if route_path == "$default":
            best = best or RouteMatch("$default", {})
            continue
        parameters = _match_path(route_path, segments)
        if parameters is not None:
            match = RouteMatch(f"{route_method} {route_path}", parameters)
            # A route without a greedy variable is more specific than one with it.
            if "+}" not in route_path:
                return match
            if best is None or best.route_key == "$default":
                best = match
    return best


def _match_path(route_path: str, segments: list[str]) -> dict[str, str] | None:
    pattern = [part for part in route_path.strip("/").split("/") if part]
    parameters: dict[str, str] = {}
    for index, part in enumerate(pattern):
        if part.startswith("{") and part.endswith("+}"):
            rest = segments[index:]
            if not rest:
                return None
            parameters[part[1:-2]] = "/".join(rest)
            return parameters
        if index >= len(segments):
            return None
        if part.startswith("{") and part.endswith("}"):
            parameters[part[1:-1]] = segments[index]
        elif part != segments[index]:
            return None
    return parameters if len(pattern) == len(segments) else None


# --------------------------------------------------------------------------- SQS


def _message_attributes(attributes: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """boto3's MessageAttributes in the camelCase form Lambda's SQS records use."""
    converted: dict[str, dict[str, Any]] = {}
    for name, attribute in attributes.items():
        entry: dict[str, Any] = {
            "stringListValues": list(attribute.get("StringListValues", [])),
            "binaryListValues": [
                base64.b64encode(value).decode("ascii") for value in attribute.get("BinaryListValues", [])
            ],
            "dataType": attribute.get("DataType", "String"),
        }
        if "StringValue" in attribute:
            entry["stringValue"] = attribute["StringValue"]
        if "BinaryValue" in attribute:
            entry["binaryValue"] = base64.b64encode(attribute["BinaryValue"]).decode("ascii")
        converted[name] = entry
    return converted


def sqs_record(message: Mapping[str, Any], *, queue_arn: str, region: str = LOCAL_REGION) -> dict[str, Any]:
    """One received SQS message (boto3 `receive_message` shape) as a Lambda SQS record."""
    system_attributes = dict(message.get("Attributes", {}))
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": system_attributes,
        "messageAttributes": _message_attributes(message.get("MessageAttributes", {})),
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def sqs_event(messages: Iterable[Mapping[str, Any]], *, queue_arn: str, region: str = LOCAL_REGION) -> dict[str, Any]:
    return {"Records": [sqs_record(message, queue_arn=queue_arn, region=region) for message in messages]}


# --------------------------------------------------------------------------- schedules


def schedule_input_event(schedule_input: Mapping[str, Any], *, date: dt.date | str | None = None) -> dict[str, Any]:
    """What EventBridge Scheduler delivers for a schedule with `Input`: that JSON, as is.

    `date` stands in for "run as if on that trading day" (the handlers' contract).
    """
    event = dict(schedule_input)
    if date is not None:
        event["date"] = date.isoformat() if isinstance(date, dt.date) else str(date)
    return event


def scheduled_event(
    *,
    rule_arn: str,
    time: dt.datetime | None = None,
    region: str = LOCAL_REGION,
    account_id: str = LOCAL_ACCOUNT_ID,
) -> dict[str, Any]:
    """A plain EventBridge "Scheduled Event", what a rule without Input sends."""
    moment = (time or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def schedule_arn(name: str, *, region: str = LOCAL_REGION, account_id: str = LOCAL_ACCOUNT_ID) -> str:
    return f"arn:aws:scheduler:{region}:{account_id}:schedule/default/{name}"


def rule_arn(name: str, *, region: str = LOCAL_REGION, account_id: str = LOCAL_ACCOUNT_ID) -> str:
    return f"arn:aws:events:{region}:{account_id}:rule/{name}"
