"""The shared HTTP policy: transient failures are retried with backoff, permanent ones are not."""

from __future__ import annotations

import httpx
import pytest
import respx

from shared.sources.http import UpstreamUnavailableError, build_client, send_with_retries

BASE = "https://upstream.test"


@pytest.fixture
def client() -> httpx.Client:
    return build_client(base_url=BASE)


@respx.mock
def test_5xx_then_success_is_retried(client: httpx.Client) -> None:
    route = respx.get(f"{BASE}/x").mock(side_effect=[httpx.Response(503), httpx.Response(502), httpx.Response(200)])
    assert send_with_retries(client, "GET", "/x", max_attempts=4).status_code == 200
    assert route.call_count == 3


@respx.mock
def test_429_honours_retry_after(client: httpx.Client) -> None:
    route = respx.get(f"{BASE}/x").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(200)]
    )
    assert send_with_retries(client, "GET", "/x").status_code == 200
    assert route.call_count == 2


@respx.mock
def test_timeouts_and_refused_connections_are_retried_then_raised(client: httpx.Client) -> None:
    route = respx.get(f"{BASE}/x").mock(side_effect=httpx.ConnectTimeout("slow"))
    with pytest.raises(httpx.ConnectTimeout):
        send_with_retries(client, "GET", "/x", max_attempts=3)
    assert route.call_count == 3


@respx.mock
@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_permanent_4xx_is_returned_at_once(client: httpx.Client, status: int) -> None:
    route = respx.get(f"{BASE}/x").mock(return_value=httpx.Response(status, text="nope"))
    assert send_with_retries(client, "GET", "/x").status_code == status
    assert route.call_count == 1


@respx.mock
def test_exhausted_retries_name_the_status(client: httpx.Client) -> None:
    respx.get(f"{BASE}/x").mock(return_value=httpx.Response(500, text="boom"))
    with pytest.raises(UpstreamUnavailableError, match="HTTP 500") as raised:
        send_with_retries(client, "GET", "/x", max_attempts=2)
    assert raised.value.status_code == 500 and raised.value.body == "boom"


def test_client_sends_our_user_agent_and_has_a_timeout() -> None:
    client = build_client(base_url=BASE)
    assert client.headers["User-Agent"].startswith("StockInsight/")
    assert client.timeout.read is not None and client.timeout.read > 0
