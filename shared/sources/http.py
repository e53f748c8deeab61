"""One way to build and call upstream HTTP clients: timeouts, polite headers, bounded retries.

Every upstream (KRX, KIS, Naver) fails the same ways — 5xx, 429, timeouts, dropped
connections — and each of those is worth a few retries with exponential backoff and
jitter. A 4xx that will not change on retry (400/401/403/404) is returned at once so the
caller can turn its body into a precise error. Upstreams whose error codes need a
different verdict (Naver's 429 "daily quota" must not be retried) pass `is_retryable`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from shared.config import Settings, get_settings

log = logging.getLogger(__name__)

# Backoff between attempts: random in [0, min(cap, initial * 2**n)] ("full jitter").
BACKOFF_INITIAL_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 8.0
# A server's Retry-After is honoured up to this many seconds; longer waits fail instead.
RETRY_AFTER_CAP_SECONDS = 30.0

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class UpstreamError(RuntimeError):
    """An upstream answered in a way the caller cannot use; the message names upstream and cause."""


class UpstreamUnavailableError(UpstreamError):
    """Retries were exhausted on 5xx/429 answers: the upstream is down or throttling us."""

    def __init__(self, message: str, *, status_code: int, body: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body


class _RetryableResponse(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def default_is_retryable(response: httpx.Response) -> bool:
    return response.status_code in RETRYABLE_STATUS


def build_client(
    *,
    base_url: str,
    headers: Mapping[str, str] | None = None,
    settings: Settings | None = None,
    follow_redirects: bool = False,
) -> httpx.Client:
    """An httpx client with the configured timeout and our User-Agent unless the caller sets one."""
    settings = settings or get_settings()
    merged = {"User-Agent": settings.http_user_agent, **(headers or {})}
    timeout = httpx.Timeout(settings.http_timeout_seconds, connect=min(5.0, settings.http_timeout_seconds))
    return httpx.Client(base_url=base_url, headers=merged, timeout=timeout, follow_redirects=follow_redirects)


def _wait_seconds(state: RetryCallState) -> float:
    jittered = wait_random_exponential(multiplier=BACKOFF_INITIAL_SECONDS, max=BACKOFF_MAX_SECONDS)(state)
    outcome = state.outcome
    if outcome is not None and outcome.failed:
        exc = outcome.exception()
        if isinstance(exc, _RetryableResponse):
            retry_after = exc.response.headers.get("Retry-After", "")
            if retry_after.strip().isdigit():
                return min(float(retry_after), RETRY_AFTER_CAP_SECONDS)
    return float(jittered)


def _log_retry(state: RetryCallState) -> None:
    outcome = state.outcome
    cause = "" if outcome is None else repr(outcome.exception())
    log.warning(
        "upstream call failed, retrying",
        extra={"attempt": state.attempt_number, "cause": cause[:300], "call": state.kwargs.get("describe", "")},
    )


def send_with_retries(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    is_retryable: Callable[[httpx.Response], bool] = default_is_retryable,
    max_attempts: int | None = None,
    **request_kwargs: Any,
) -> httpx.Response:
    """Send a request, retrying transient failures; returns the last non-retryable response.

    Raises `UpstreamUnavailableError` when every attempt got a retryable status, and the
    last `httpx.TransportError` (timeout, refused connection) when every attempt failed
    at the transport level.
    """
    attempts = max_attempts or get_settings().http_max_attempts

    def attempt(describe: str) -> httpx.Response:
        response = client.request(method, url, **request_kwargs)
        if is_retryable(response):
            response.read()
            raise _RetryableResponse(response)
        return response

    retrying = Retrying(
        stop=stop_after_attempt(max(1, attempts)),
        wait=_wait_seconds,
        retry=retry_if_exception_type((_RetryableResponse, httpx.TransportError)),
        before_sleep=_log_retry,
        reraise=True,
    )
    try:
        return retrying(attempt, describe=f"{method} {client.base_url}{url}")
    except _RetryableResponse as exc:
        response = exc.response
        raise UpstreamUnavailableError(
            f"{method} {response.request.url.copy_with(query=None)} still failing after {attempts} attempts: "
            f"HTTP {response.status_code} {response.text[:200]!r}",
            status_code=response.status_code,
            body=response.text,
        ) from None
