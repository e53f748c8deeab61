"""The event builders produce exactly the shapes AWS delivers (HTTP API v2.0, SQS, EventBridge)."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from runner.events import (
    HttpRequest,
    http_api_event,
    match_route,
    rule_arn,
    schedule_input_event,
    scheduled_event,
    sqs_event,
)
from runner.gateway import MalformedResponseError, gateway_response

NOW = dt.datetime(2024, 1, 3, 23, 10, 5, 123000, tzinfo=dt.UTC)


def test_http_api_v2_event_has_the_full_payload_shape() -> None:
    request = HttpRequest(
        method="post",
        raw_path="/api/v1/stocks/005930",
        raw_query="fields=a&fields=b&q=%ED%95%9C",
        headers=[
            ("Host", "127.0.0.1:3000"),
            ("User-Agent", "curl/8"),
            ("Content-Type", "application/json"),
            ("Accept", "text/html"),
            ("Accept", "application/json"),
            ("Cookie", "a=1; b=2"),
        ],
        body=b'{"x": "\xed\x95\x9c"}',
        source_ip="10.0.0.7",
    )
    event = http_api_event(
        request,
        route_key="ANY /{proxy+}",
        path_parameters={"proxy": "api/v1/stocks/005930"},
        request_id="req-1",
        now=NOW,
    )
    assert event == {
        "version": "2.0",
        "routeKey": "ANY /{proxy+}",
        "rawPath": "/api/v1/stocks/005930",
        "rawQueryString": "fields=a&fields=b&q=%ED%95%9C",
        "cookies": ["a=1", "b=2"],
        "headers": {
            "host": "127.0.0.1:3000",
            "user-agent": "curl/8",
            "content-type": "application/json",
            "accept": "text/html,application/json",
        },
        "queryStringParameters": {"fields": "a,b", "q": "한"},
        "pathParameters": {"proxy": "api/v1/stocks/005930"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "127.0.0.1:3000",
            "domainPrefix": "127",
            "http": {
                "method": "POST",
                "path": "/api/v1/stocks/005930",
                "protocol": "HTTP/1.1",
                "sourceIp": "10.0.0.7",
                "userAgent": "curl/8",
            },
            "requestId": "req-1",
            "routeKey": "ANY /{proxy+}",
            "stage": "$default",
            "time": "03/Jan/2024:23:10:05 +0000",
            "timeEpoch": 1704323405123,
        },
        "body": '{"x": "한"}',
        "isBase64Encoded": False,
    }


def test_defaults_match_a_default_route_without_body_query_or_cookies() -> None:
    event = http_api_event(HttpRequest("GET", "/", "", [("host", "localhost")]), now=NOW)
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "$default"
    assert {"body", "cookies", "queryStringParameters", "pathParameters"}.isdisjoint(event)
    assert event["isBase64Encoded"] is False
    assert len(event["requestContext"]["requestId"]) == 36  # a uuid


@pytest.mark.parametrize(
    ("content_type", "body", "encoded"),
    [
        ("application/octet-stream", b"\x00\xffbinary", True),
        ("image/png", b"\x89PNG", True),
        (None, b"no content type", True),
        ("text/plain; charset=utf-8", "텍스트".encode(), False),
        ("application/problem+json", b"{}", False),
        ("application/x-www-form-urlencoded", b"a=1", False),
        ("text/plain", b"\xff\xfe not utf-8", True),
    ],
)
def test_bodies_are_base64_unless_textual(content_type: str | None, body: bytes, encoded: bool) -> None:
    headers = [("content-type", content_type)] if content_type else []
    event = http_api_event(HttpRequest("POST", "/upload", "", headers, body), now=NOW)
    assert event["isBase64Encoded"] is encoded
    received = base64.b64decode(event["body"]) if encoded else event["body"].encode()
    assert received == body


ROUTES = [("ANY", "/{proxy+}"), ("GET", "/")]


@pytest.mark.parametrize(
    ("method", "path", "route_key", "parameters"),
    [
        ("GET", "/", "GET /", {}),
        ("GET", "/health", "ANY /{proxy+}", {"proxy": "health"}),
        ("DELETE", "/api/v1/users/3", "ANY /{proxy+}", {"proxy": "api/v1/users/3"}),
        ("GET", "/news/%ED%95%9C", "ANY /{proxy+}", {"proxy": "news/한"}),
    ],
)
def test_routes_match_as_http_api_matches_them(
    method: str, path: str, route_key: str, parameters: dict[str, str]
) -> None:
    match = match_route(method, path, ROUTES)
    assert match is not None
    assert (match.route_key, match.path_parameters) == (route_key, parameters)


def test_unmatched_routes_and_specific_routes() -> None:
    assert match_route("POST", "/", ROUTES) is None
    routes = [("ANY", "/{proxy+}"), ("GET", "/stocks/{code}"), ("ANY", "$default")]
    match = match_route("GET", "/stocks/005930", routes)
    assert match is not None and (match.route_key, match.path_parameters) == ("GET /stocks/{code}", {"code": "005930"})
    fallback = match_route("GET", "/", routes)
    assert fallback is not None and fallback.route_key == "$default"


# --------------------------------------------------------------------------- responses


def test_v2_response_maps_headers_cookies_and_base64_bodies() -> None:
    response = gateway_response(
        {
            "statusCode": 201,
            "headers": {"content-type": "application/octet-stream", "x-one": "1"},
            "multiValueHeaders": {"x-many": ["a", "b"]},
            "cookies": ["s=1; HttpOnly", "t=2"],
            "body": base64.b64encode(b"\x00\x01").decode(),
            "isBase64Encoded": True,
        }
    )
    assert response.status == 201
    assert response.headers == [
        ("content-type", "application/octet-stream"),
        ("x-one", "1"),
        ("x-many", "a"),
        ("x-many", "b"),
        ("set-cookie", "s=1; HttpOnly"),
        ("set-cookie", "t=2"),
    ]
    assert response.body == b"\x00\x01"


def test_a_response_without_status_code_is_a_json_200() -> None:
    response = gateway_response({"hello": "세계"})
    assert (response.status, response.headers) == (200, [("content-type", "application/json")])
    assert json.loads(response.body) == {"hello": "세계"}


@pytest.mark.parametrize(
    "result",
    [
        {"statusCode": "abc"},
        {"statusCode": 999},
        {"statusCode": 200, "body": "%%%", "isBase64Encoded": True},
        {"statusCode": 200, "cookies": "a=1"},
        {"statusCode": 200, "multiValueHeaders": {"x": "one"}},
    ],
)
def test_malformed_responses_are_rejected(result: dict[str, object]) -> None:
    with pytest.raises(MalformedResponseError):
        gateway_response(result)


# --------------------------------------------------------------------------- SQS


def test_sqs_event_has_lambdas_record_shape() -> None:
    received = {
        "MessageId": "m-1",
        "ReceiptHandle": "rh-1",
        "MD5OfBody": "md5",
        "Body": '{"kind": "signal"}',
        "Attributes": {
            "SenderId": "AIDA",
            "SentTimestamp": "1704240000000",
            "ApproximateReceiveCount": "2",
            "ApproximateFirstReceiveTimestamp": "1704240000100",
        },
        "MD5OfMessageAttributes": "md5attrs",
        "MessageAttributes": {
            "trace": {"StringValue": "abc", "DataType": "String"},
            "blob": {"BinaryValue": b"\x01\x02", "DataType": "Binary"},
        },
    }
    arn = "arn:aws:sqs:ap-northeast-2:123456789012:NotifyQueue"
    assert sqs_event([received], queue_arn=arn) == {
        "Records": [
            {
                "messageId": "m-1",
                "receiptHandle": "rh-1",
                "body": '{"kind": "signal"}',
                "attributes": {
                    "SenderId": "AIDA",
                    "SentTimestamp": "1704240000000",
                    "ApproximateReceiveCount": "2",
                    "ApproximateFirstReceiveTimestamp": "1704240000100",
                },
                "messageAttributes": {
                    "trace": {
                        "stringValue": "abc",
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": "String",
                    },
                    "blob": {
                        "binaryValue": "AQI=",
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": "Binary",
                    },
                },
                "md5OfMessageAttributes": "md5attrs",
                "md5OfBody": "md5",
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": "ap-northeast-2",
            }
        ]
    }


def test_sqs_records_parse_with_powertools_model() -> None:
    from aws_lambda_powertools.utilities.parser.models import SqsModel

    received = {
        "MessageId": "m-1",
        "ReceiptHandle": "rh",
        "MD5OfBody": "md5",
        "Body": "{}",
        "Attributes": {
            "SenderId": "AIDA",
            "SentTimestamp": "1704240000000",
            "ApproximateReceiveCount": "1",
            "ApproximateFirstReceiveTimestamp": "1704240000100",
        },
    }
    model = SqsModel.model_validate(sqs_event([received], queue_arn="arn:aws:sqs:ap-northeast-2:123456789012:q"))
    assert model.Records[0].messageId == "m-1"


# --------------------------------------------------------------------------- schedules


def test_schedule_input_is_delivered_as_is_with_an_optional_date() -> None:
    assert schedule_input_event({"job": "prices"}) == {"job": "prices"}
    assert schedule_input_event({"job": "prices"}, date=dt.date(2024, 1, 3)) == {"job": "prices", "date": "2024-01-03"}
    assert schedule_input_event({"job": "news"}, date="2024-01-04") == {"job": "news", "date": "2024-01-04"}


def test_plain_scheduled_event_shape() -> None:
    arn = rule_arn("CrawlPricesSchedule")
    event = scheduled_event(
        rule_arn=arn, time=dt.datetime(2024, 1, 3, 16, 10, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    )
    assert len(event.pop("id")) == 36
    assert event == {
        "version": "0",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2024-01-03T07:10:00Z",
        "region": "ap-northeast-2",
        "resources": ["arn:aws:events:ap-northeast-2:123456789012:rule/CrawlPricesSchedule"],
        "detail": {},
    }


def test_both_schedule_forms_satisfy_the_handlers_contract() -> None:
    from shared.events import parse_scheduled_job

    from_input = parse_scheduled_job(
        schedule_input_event({"job": "prices"}, date=dt.date(2024, 1, 3)), allowed_jobs={"prices"}, default_job="prices"
    )
    assert (from_input.job, from_input.date) == ("prices", dt.date(2024, 1, 3))
    # 2024-01-02 23:30 UTC is already the 3rd in Seoul.
    plain = scheduled_event(rule_arn=rule_arn("r"), time=dt.datetime(2024, 1, 2, 23, 30, tzinfo=dt.UTC))
    from_plain = parse_scheduled_job(plain, allowed_jobs={"prices"}, default_job="prices")
    assert (from_plain.job, from_plain.date) == ("prices", dt.date(2024, 1, 3))
