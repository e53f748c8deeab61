"""The local API Gateway over real HTTP: requests become v2.0 events, responses come back intact."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.gateway import ApiGateway, find_docs_url
from runner.template import Template, load_template


@pytest.fixture
def gateway(fixture_template: Template) -> Iterator[ApiGateway]:
    with ApiGateway(fixture_template.http_function(), port=0, access_log=False) as running:
        yield running


@pytest.fixture
def client(gateway: ApiGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        yield http


def _echo(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    echoed: dict[str, Any] = response.json()
    return echoed


def test_get_with_query_and_headers(client: httpx.Client, gateway: ApiGateway) -> None:
    response = client.get(
        "/api/v1/stocks",
        params=[("market", "KOSPI"), ("tag", "a"), ("tag", "b"), ("q", "삼성")],
        headers={"X-Request-Trace": "t-1", "Accept": "application/json"},
    )
    echo = _echo(response)
    event = echo["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "ANY /{proxy+}"
    assert event["pathParameters"] == {"proxy": "api/v1/stocks"}
    assert event["rawPath"] == "/api/v1/stocks"
    assert event["rawQueryString"] == "market=KOSPI&tag=a&tag=b&q=%EC%82%BC%EC%84%B1"
    assert event["queryStringParameters"] == {"market": "KOSPI", "tag": "a,b", "q": "삼성"}
    assert event["headers"]["x-request-trace"] == "t-1"
    assert event["headers"]["host"] == f"127.0.0.1:{gateway.port}"
    context = event["requestContext"]
    assert context["http"]["method"] == "GET"
    assert context["http"]["sourceIp"] == "127.0.0.1"
    assert context["http"]["userAgent"].startswith("python-httpx/")
    assert context["stage"] == "$default"
    assert response.headers["apigw-requestid"] == context["requestId"]
    # What the ASGI app saw, through Mangum.
    assert (echo["method"], echo["path"]) == ("GET", "/api/v1/stocks")
    assert echo["query_string"] == event["rawQueryString"]
    assert echo["headers"]["x-request-trace"] == "t-1"


def test_post_json_arrives_as_text(client: httpx.Client) -> None:
    echo = _echo(client.post("/api/v1/auth/login", json={"email": "a@b.c", "name": "한국"}))
    event = echo["event"]
    assert event["isBase64Encoded"] is False
    assert json.loads(event["body"]) == {"email": "a@b.c", "name": "한국"}
    assert event["headers"]["content-type"] == "application/json"
    assert json.loads(base64.b64decode(echo["body_base64"])) == {"email": "a@b.c", "name": "한국"}


def test_cookies_move_from_the_header_to_the_cookies_field(client: httpx.Client) -> None:
    echo = _echo(client.get("/me", headers={"Cookie": "refresh=r1; theme=dark"}))
    assert echo["event"]["cookies"] == ["refresh=r1", "theme=dark"]
    assert "cookie" not in echo["event"]["headers"]
    assert echo["headers"]["cookie"] == "refresh=r1; theme=dark"  # Mangum puts it back for the app


def test_binary_request_body_is_base64_encoded(client: httpx.Client) -> None:
    payload = bytes(range(256))
    echo = _echo(client.put("/upload", content=payload, headers={"Content-Type": "application/octet-stream"}))
    assert echo["event"]["isBase64Encoded"] is True
    assert base64.b64decode(echo["event"]["body"]) == payload
    assert base64.b64decode(echo["body_base64"]) == payload


def test_binary_response_body_is_decoded(client: httpx.Client) -> None:
    response = client.get("/binary")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.content == bytes(range(256))


def test_status_cookies_and_repeated_headers_come_back(client: httpx.Client) -> None:
    response = client.get("/cookies")
    assert response.status_code == 201
    assert response.headers.get_list("set-cookie") == ["session=abc; Path=/; HttpOnly", "theme=dark; Path=/"]
    assert response.headers["x-multi"] == "one,two"
    assert response.text == "쿠키"
    assert client.cookies.get("session") == "abc"


def test_the_apps_404_passes_through(client: httpx.Client) -> None:
    response = client.get("/missing")
    assert (response.status_code, response.json()) == (404, {"detail": "Not Found"})


def test_a_request_no_route_matches_never_reaches_the_function(client: httpx.Client, gateway: ApiGateway) -> None:
    gateway.last_event = None
    response = client.post("/")  # the root route is GET only
    assert (response.status_code, response.json()) == (404, {"message": "Not Found"})
    assert gateway.last_event is None
    assert _echo(client.get("/"))["event"]["routeKey"] == "GET /"


@pytest.mark.parametrize("path", ["/crash", "/malformed"])
def test_handler_errors_become_api_gateways_500(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert (response.status_code, response.json()) == (500, {"message": "Internal Server Error"})


def test_a_plain_return_value_is_a_json_200(client: httpx.Client) -> None:
    response = client.get("/plain")
    assert (response.status_code, response.json()) == (200, {"plain": True, "items": [1, 2]})


def test_each_request_gets_a_lambda_context(client: httpx.Client) -> None:
    first, second = _echo(client.get("/a"))["context"], _echo(client.get("/b"))["context"]
    assert first["function_name"] == "stockinsight-local-web"
    assert first["memory_limit_in_mb"] == 256
    assert first["invoked_function_arn"].endswith(":function:stockinsight-local-web")
    assert 0 < first["remaining_ms"] <= 5000  # the template's Timeout: 5
    assert first["aws_request_id"] != second["aws_request_id"]


def test_head_requests_get_headers_only(client: httpx.Client) -> None:
    response = client.head("/a")
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) > 0


def test_the_real_api_function_answers_health(
    repo_root: Path, migrated_database: str, redis_client: Any, milvus_path: Path
) -> None:
    api = load_template(repo_root / "template.yaml").http_function()
    with ApiGateway(api, port=0, access_log=False) as running, httpx.Client(base_url=running.url, timeout=30) as http:
        response = http.get("/health")
        docs_url = find_docs_url(running.url)
        missing = http.get("/no-such-page")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["status"] == "ok"
    assert docs_url is not None and docs_url.startswith(running.url)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/json")


def test_an_unescaped_utf8_query_reaches_the_app_as_utf8(gateway: ApiGateway) -> None:
    """curl sends `?q=삼성` as raw UTF-8 bytes; the app must see 삼성, not mojibake."""
    import socket

    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as connection:
        request = "GET /api/v1/stocks?q=삼성 HTTP/1.1\r\nHost: local\r\nConnection: close\r\n\r\n"
        connection.sendall(request.encode("utf-8"))
        raw = b""
        while chunk := connection.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    event = json.loads(body)["event"]
    assert event["queryStringParameters"] == {"q": "삼성"}
