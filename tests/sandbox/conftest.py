"""One sandbox for the sandbox's own tests, reset and re-clocked before each test."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from sandbox.server import SandboxServer
from sandbox.trading_calendar import KST

# A Friday after the close, inside the real data of both tables.
DEFAULT_NOW = datetime(2024, 1, 5, 16, 0, tzinfo=KST)
# Building an SSL context costs ~50 ms per httpx.Client; the sandbox is plain HTTP, so share one.
_TLS = ssl.create_default_context()


def http_client(base_url: str, **kwargs: Any) -> httpx.Client:
    return httpx.Client(base_url=base_url, verify=_TLS, timeout=10, **kwargs)


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
    with http_client(srv.base_url) as http:
        yield http


@pytest.fixture
def open_client() -> Callable[..., httpx.Client]:
    """Makes extra clients (e.g. for a second server) cheaply."""
    return http_client
