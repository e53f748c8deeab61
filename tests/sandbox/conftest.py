"""One sandbox for the sandbox's own tests, reset and re-clocked before each test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest

from sandbox.server import SandboxServer
from sandbox.trading_calendar import KST

# A Friday after the close, inside the real data of both tables.
DEFAULT_NOW = datetime(2024, 1, 5, 16, 0, tzinfo=KST)


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    with SandboxServer(seed=42, telegram_blocked_chats={999}) as server:
        yield server


@pytest.fixture
def srv(sandbox_server: SandboxServer) -> SandboxServer:
    sandbox_server.reset()
    sandbox_server.set_clock(DEFAULT_NOW)
    return sandbox_server


@pytest.fixture
def client(srv: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.base_url, timeout=10) as http:
        yield http
