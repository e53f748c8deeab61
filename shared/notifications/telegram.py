"""Sending through python-telegram-bot: pacing, flood control and what each error means.

Only the notify image imports this module. python-telegram-bot (~0.3 s to import) is
imported when the first sender is built, so runs that send nothing (no token, nothing
pending) do not pay for it. Every send goes through `TelegramLimiter`, token buckets in
Redis shared by every notify container (Telegram counts per bot, not per Lambda); a 429
pauses this sender for the `retry_after` Telegram gave, unless that would outlast the
invocation, in which case the message is handed back to the queue. Errors map to outcomes
the caller records: 403 → blocked, other 4xx → failed (permanent), timeouts/5xx → retryable.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from shared.config import Settings
from shared.stores.redis import RateLimiter

if TYPE_CHECKING:
    from telegram import Bot
    from telegram.request import HTTPXRequest

log = logging.getLogger(__name__)

# After this many transient failures in a row the API is taken to be down: the rest of the
# invocation's messages go back to the queue instead of each waiting out a timeout.
CONSECUTIVE_FAILURES_TO_HALT = 5
_NUMERIC_CHAT_ID = re.compile(r"-?\d+")


class SendStatus(enum.StrEnum):
    SENT = "sent"
    BLOCKED = "blocked"  # 403: the user blocked the bot / left the chat
    FAILED = "failed"  # permanent (400 and the like): retrying cannot help
    RETRYABLE = "retryable"  # timeout, 5xx, network: try again on redelivery
    DEFERRED = "deferred"  # not sent in this invocation (out of time, halted): back to the queue


@dataclass(frozen=True, slots=True)
class SendResult:
    status: SendStatus
    message_id: int | None = None
    error: str | None = None
    throttled: int = 0  # 429s met on the way

    @property
    def attempted(self) -> bool:
        """Whether Telegram answered this message (so it counts as an attempt)."""
        return self.status is not SendStatus.DEFERRED


class Deadline:
    """Time left in the invocation, less a margin kept for recording outcomes."""

    def __init__(self, remaining_ms: Callable[[], int] | None, *, margin_ms: int) -> None:
        self._remaining_ms = remaining_ms
        self._margin_ms = margin_ms

    def seconds_left(self) -> float:
        if self._remaining_ms is None:
            return float("inf")
        return (self._remaining_ms() - self._margin_ms) / 1000.0

    def allows(self, seconds: float) -> bool:
        return seconds < self.seconds_left()


def retry_after_seconds(value: object) -> float:
    """PTB gives `RetryAfter.retry_after` as int seconds or a timedelta (PTB_TIMEDELTA); accept both."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float):
        return float(value)
    total_seconds = getattr(value, "total_seconds", None)
    if callable(total_seconds):
        return float(total_seconds())
    return float(str(value))


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """Built once per container: loading the CA bundle costs ~0.1 s, every invocation otherwise."""
    import httpx

    return httpx.create_ssl_context()


def telegram_chat_id(chat_id: str) -> int | str:
    """Numeric ids go out as numbers; `@channelname` stays a string."""
    return int(chat_id) if _NUMERIC_CHAT_ID.fullmatch(chat_id) else chat_id


class TelegramLimiter:
    """One bucket for the bot overall and one per chat, both in Redis.

    The overall bucket holds a tenth of a second of sends: enough to absorb a sender waking
    a little late (a one-token bucket loses that time for good), too little for a burst
    Telegram's flood control would notice. A chat's bucket holds one message.
    """

    def __init__(self, *, overall_per_second: float, chat_per_second: float, group_per_minute: float = 20.0) -> None:
        self.overall = RateLimiter(
            "telegram:overall", rate_per_second=overall_per_second, burst=max(1.0, overall_per_second / 10)
        )
        self.chat_per_second = chat_per_second
        self.group_per_minute = group_per_minute

    def for_chat(self, chat_id: str) -> RateLimiter:
        rate = self.chat_per_second
        if chat_id.startswith(("-", "@")):  # groups and channels (the broadcast chat): ~20 a minute
            rate = min(rate, self.group_per_minute / 60)
        return RateLimiter(f"telegram:chat:{chat_id}", rate_per_second=rate, burst=1)

    async def wait_turn(self, chat_id: str, deadline: Deadline) -> bool:
        """Wait for a send slot; False when it would not come before the deadline."""
        for bucket in (self.for_chat(chat_id), self.overall):
            while True:
                wait = bucket.try_acquire()
                if wait <= 0:
                    break
                if not deadline.allows(wait):
                    return False
                await asyncio.sleep(wait)
        return True


class TelegramSender:
    """Sends HTML messages through one PTB Bot, reused for every message of an invocation."""

    def __init__(self, bot: Bot, request: HTTPXRequest, limiter: TelegramLimiter, deadline: Deadline) -> None:
        self.bot = bot
        self.request = request
        self.limiter = limiter
        self.deadline = deadline
        self._paused_until = 0.0  # monotonic; set by a 429 so concurrent sends wait too
        self._consecutive_failures = 0
        self.halted_reason: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings, deadline: Deadline) -> TelegramSender:
        from telegram import Bot
        from telegram.request import HTTPXRequest

        request = HTTPXRequest(
            connection_pool_size=settings.telegram_send_concurrency,
            connect_timeout=settings.telegram_connect_timeout_seconds,
            read_timeout=settings.telegram_read_timeout_seconds,
            write_timeout=settings.telegram_read_timeout_seconds,
            pool_timeout=settings.telegram_read_timeout_seconds,
            httpx_kwargs={"verify": _tls_context()},
        )
        bot = Bot(
            settings.require("telegram_bot_token"),
            base_url=f"{settings.telegram_base_url.rstrip('/')}/bot",
            request=request,
        )
        limiter = TelegramLimiter(
            overall_per_second=settings.telegram_messages_per_second,
            group_per_minute=settings.telegram_group_messages_per_minute,
            chat_per_second=settings.telegram_chat_messages_per_second,
        )
        return cls(bot, request, limiter, deadline)

    async def close(self) -> None:
        # Not `bot.shutdown()`: it is a no-op unless `bot.initialize()` ran, which costs a getMe.
        await self.request.shutdown()

    async def _wait_for_pause(self) -> bool:
        pause = self._paused_until - time.monotonic()
        if pause <= 0:
            return True
        if not self.deadline.allows(pause):
            return False
        await asyncio.sleep(pause)
        return True

    async def send(self, chat_id: str, text: str) -> SendResult:
        from telegram import LinkPreviewOptions
        from telegram.constants import ParseMode
        from telegram.error import (
            BadRequest,
            ChatMigrated,
            Forbidden,
            InvalidToken,
            NetworkError,
            RetryAfter,
            TelegramError,
            TimedOut,
        )

        throttled = 0
        while True:
            if self.halted_reason is not None:
                return SendResult(SendStatus.DEFERRED, error=self.halted_reason, throttled=throttled)
            if (
                self.deadline.seconds_left() <= 0
                or not await self._wait_for_pause()
                or not await self.limiter.wait_turn(chat_id, self.deadline)
            ):
                return SendResult(SendStatus.DEFERRED, error="out of time: back to the queue", throttled=throttled)
            try:
                message = await self.bot.send_message(
                    chat_id=telegram_chat_id(chat_id),
                    text=text,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
            except RetryAfter as exc:
                throttled += 1
                seconds = retry_after_seconds(exc.retry_after)
                log.warning("telegram flood control", extra={"chat_id": chat_id, "retry_after": seconds})
                if not self.deadline.allows(seconds):
                    return SendResult(
                        SendStatus.DEFERRED, error=f"throttled: retry after {seconds:g}s", throttled=throttled
                    )
                self._paused_until = max(self._paused_until, time.monotonic() + seconds)
                continue
            except Forbidden as exc:
                self._consecutive_failures = 0
                return SendResult(SendStatus.BLOCKED, error=exc.message, throttled=throttled)
            except ChatMigrated as exc:
                # The group became a supergroup: the stored chat id is dead; the user must relink.
                self._consecutive_failures = 0
                error = f"chat migrated to {exc.new_chat_id}"
                return SendResult(SendStatus.FAILED, error=error, throttled=throttled)
            except BadRequest as exc:
                self._consecutive_failures = 0
                # PTB strips Telegram's "Bad Request: " prefix; put the kind back for the ledger.
                return SendResult(SendStatus.FAILED, error=f"BadRequest: {exc.message}", throttled=throttled)
            except InvalidToken as exc:
                # Configuration, not the message: stop and let the queue keep everything.
                self.halted_reason = f"telegram rejected the bot token: {exc.message}"
                log.error("telegram token rejected; halting sends", extra={"error": exc.message})
                return SendResult(SendStatus.RETRYABLE, error=self.halted_reason, throttled=throttled)
            except (TimedOut, NetworkError, TelegramError) as exc:
                self._consecutive_failures += 1
                error = f"{type(exc).__name__}: {exc.message}"
                if self._consecutive_failures >= CONSECUTIVE_FAILURES_TO_HALT:
                    self.halted_reason = f"telegram unavailable ({self._consecutive_failures} failures in a row)"
                    log.error("telegram unavailable; halting sends", extra={"error": error})
                return SendResult(SendStatus.RETRYABLE, error=error, throttled=throttled)
            self._consecutive_failures = 0
            return SendResult(SendStatus.SENT, message_id=message.message_id, throttled=throttled)
