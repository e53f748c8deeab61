"""Fixtures for the crawl tests: recorded KRX payloads and a fast retry policy."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
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
