"""A local stand-in for every upstream StockInsight talks to (KRX, KIS, Naver, OpenAI, Telegram).

Tests and the offline demo point the project's real HTTP clients at :class:`SandboxServer`,
which speaks each upstream's wire format on one 127.0.0.1 port; only base URLs differ from
production. See ``sandbox/server.py`` for the public API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.server import SandboxServer

__all__ = ["SandboxServer"]


def __getattr__(name: str) -> Any:
    # Lazy so that `python -m sandbox.build_data` does not import the server stack.
    if name == "SandboxServer":
        from sandbox.server import SandboxServer

        return SandboxServer
    raise AttributeError(name)
