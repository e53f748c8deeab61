"""The sandbox's notion of "now", settable by tests and the demo.

Market data, news visibility, KRX sessions and KIS token expiry follow this clock, so a demo
can replay any day. Rate limits (KIS per second, token issuance per minute, Telegram flood
control) use the real monotonic clock instead: they model throughput, not market time.
"""

from __future__ import annotations

import threading
from datetime import datetime

from sandbox.trading_calendar import KST


class SandboxClock:
    """Real time until :meth:`set` freezes it at a given instant."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frozen: datetime | None = None

    def set(self, now: datetime) -> None:
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("the sandbox clock needs an aware datetime")
        with self._lock:
            self._frozen = now

    def unfreeze(self) -> None:
        with self._lock:
            self._frozen = None

    def now(self) -> datetime:
        """Current sandbox time in KST."""
        with self._lock:
            frozen = self._frozen
        return (frozen or datetime.now(KST)).astimezone(KST)
