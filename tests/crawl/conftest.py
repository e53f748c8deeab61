"""Fixtures for the crawl tests: recorded KRX payloads and a fast retry policy."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

KRX_FIXTURES = Path(__file__).parent.parent / "fixtures" / "krx"


@pytest.fixture
def krx_payload() -> Callable[[str], Any]:
    """A real recorded KRX response (tests/fixtures/krx/NAME.json.gz)."""

    def load(name: str) -> Any:
        with gzip.open(KRX_FIXTURES / f"{name}.json.gz", "rt", encoding="utf-8") as handle:
            return json.load(handle)

    return load


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries keep their count and order but not their real-world pauses."""
    from shared.sources import http

    monkeypatch.setattr(http, "BACKOFF_INITIAL_SECONDS", 0.001)
    monkeypatch.setattr(http, "BACKOFF_MAX_SECONDS", 0.01)
    monkeypatch.setattr(http, "RETRY_AFTER_CAP_SECONDS", 0.01)


@pytest.fixture(scope="module")
def sandbox_server() -> Iterator[Any]:
    """One sandbox per test module (starting it loads the market); reset per test by `sandbox`."""
    from sandbox.server import SandboxServer

    with SandboxServer() as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: Any, settings_env: Callable[..., Any], database: str, redis_client: Any) -> Iterator[Any]:
    """The sandbox with a fresh state, every upstream setting pointed at it, clock at 2024-01-05 18:30 KST."""
    from datetime import datetime

    from shared.market_calendar import KST

    sandbox_server.reset()
    sandbox_server.set_clock(datetime(2024, 1, 5, 18, 30, tzinfo=KST))
    env = {key: value for key, value in sandbox_server.env().items() if key in SANDBOX_SETTINGS}
    settings_env(**env, KRX_SOURCE="data", HTTP_TIMEOUT_SECONDS="2", NEWS_PAGES_PER_STOCK="1")
    yield sandbox_server
    sandbox_server.reset()


# The crawl's upstreams; OpenAI and Telegram stay unset (the local embedder is the default).
SANDBOX_SETTINGS = frozenset(
    {
        "KRX_DATA_URL", "KRX_ID", "KRX_PW", "KRX_OPENAPI_URL", "KRX_AUTH_KEY", "KIS_BASE_URL", "KIS_APP_KEY",
        "KIS_APP_SECRET", "NAVER_BASE_URL", "NAVER_CLIENT_ID", "NAVER_CLIENT_SECRET",
    }
)  # fmt: skip
