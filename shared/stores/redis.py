"""Redis: cache, schedule locks, rate limits and quotas shared by every container.

Cache calls degrade: a Redis failure is logged and the caller computes instead. Locks and
limiters are shared state between concurrent Lambdas, so they talk to Redis directly.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from shared.config import get_settings
from shared.lazy_module import lazy_module

if TYPE_CHECKING:
    import redis
else:
    redis = lazy_module("redis")  # imported by the first call that talks to Redis

log = logging.getLogger(__name__)
T = TypeVar("T")

KEY_PREFIX = "si:"


@lru_cache(maxsize=1)
def get_redis() -> redis.Redis:
    return redis.Redis.from_url(
        get_settings().redis_url,
        decode_responses=True,
        socket_timeout=2.0,
        socket_connect_timeout=2.0,
        health_check_interval=30,
    )


def reset_redis() -> None:
    if get_redis.cache_info().currsize:
        get_redis().close()
    get_redis.cache_clear()


# --- cache ---------------------------------------------------------------


def _namespace_version(namespace: str) -> str:
    return str(get_redis().get(f"{KEY_PREFIX}cachever:{namespace}") or "0")


def cache_key(namespace: str, *parts: object) -> str:
    """Keys carry the namespace's version, so invalidating a namespace is one INCR."""
    return ":".join([f"{KEY_PREFIX}cache:{namespace}", f"v{_namespace_version(namespace)}", *map(str, parts)])


def cached_json(
    namespace: str,
    key_parts: tuple[object, ...],
    ttl_seconds: int,
    compute: Callable[[], T],
    *,
    worth_caching: Callable[[T], bool] | None = None,
) -> T:
    """Return the cached value or compute and store it; any Redis error falls back to compute.

    `worth_caching` keeps cheap results out of Redis (they are computed again next time).
    """
    try:
        key = cache_key(namespace, *key_parts)
        raw = get_redis().get(key)
        if raw is not None:
            return json.loads(raw)  # type: ignore[no-any-return]
    except redis.RedisError as exc:
        log.warning("cache read failed, computing instead", extra={"namespace": namespace, "error": str(exc)})
        return compute()
    value = compute()
    if worth_caching is not None and not worth_caching(value):
        return value
    try:
        get_redis().set(key, json.dumps(value, default=str), ex=ttl_seconds)
    except redis.RedisError as exc:
        log.warning("cache write failed", extra={"namespace": namespace, "error": str(exc)})
    return value


def invalidate_namespace(namespace: str) -> bool:
    """Make every cached entry of a namespace stale; False when Redis could not be reached."""
    try:
        get_redis().incr(f"{KEY_PREFIX}cachever:{namespace}")
        return True
    except redis.RedisError as exc:
        log.warning("cache invalidation failed", extra={"namespace": namespace, "error": str(exc)})
        return False


# --- locks ---------------------------------------------------------------

_RELEASE_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


@contextmanager
def exclusive_lock(name: str, *, ttl_seconds: int) -> Iterator[bool]:
    """Non-blocking lock: yields True when this caller holds it, False when another does.

    The TTL bounds how long a crashed holder can block the next run.
    """
    key = f"{KEY_PREFIX}lock:{name}"
    token = uuid.uuid4().hex
    client = get_redis()
    acquired = bool(client.set(key, token, nx=True, ex=ttl_seconds))
    try:
        yield acquired
    finally:
        if acquired:
            try:
                client.eval(_RELEASE_SCRIPT, 1, key, token)
            except redis.RedisError as exc:
                log.warning("lock release failed; it expires by TTL", extra={"lock": name, "error": str(exc)})


# --- rate limits ---------------------------------------------------------

# Token bucket in one round trip: returns 0 when a token was taken, else ms to wait.
_TOKEN_BUCKET_SCRIPT = """
local key = KEYS[1]
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('hmget', key, 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + (now - ts) * rate / 1000.0)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) * 1000.0 / rate)
end
redis.call('hset', key, 'tokens', tokens, 'ts', now)
redis.call('pexpire', key, math.ceil(capacity * 1000.0 / rate) + 1000)
return wait
"""


class RateLimiter:
    """A token bucket shared by every container through Redis (e.g. KIS 20 req/s)."""

    def __init__(self, name: str, *, rate_per_second: float, burst: float | None = None) -> None:
        self.key = f"{KEY_PREFIX}ratelimit:{name}"
        self.rate = rate_per_second
        self.capacity = burst if burst is not None else max(1.0, rate_per_second)

    def try_acquire(self) -> float:
        """Take a token if one is free; otherwise return the seconds to wait."""
        now_ms = int(time.time() * 1000)
        wait_ms = get_redis().eval(_TOKEN_BUCKET_SCRIPT, 1, self.key, self.rate, self.capacity, now_ms)
        return int(wait_ms) / 1000.0

    def acquire(self, *, max_wait_seconds: float = 30.0) -> None:
        deadline = time.monotonic() + max_wait_seconds
        while True:
            wait = self.try_acquire()
            if wait <= 0:
                return
            if time.monotonic() + wait > deadline:
                raise TimeoutError(f"rate limiter {self.key} would wait past {max_wait_seconds}s")
            time.sleep(wait)


class DailyQuota:
    """A per-day call budget (e.g. Naver's 25,000 searches), reset at midnight in the market's zone."""

    def __init__(self, name: str, *, limit: int) -> None:
        self.name = name
        self.limit = limit

    def _key(self, now: datetime) -> str:
        return f"{KEY_PREFIX}quota:{self.name}:{now.astimezone(get_settings().tz).date().isoformat()}"

    def try_consume(self, amount: int = 1, *, now: datetime | None = None) -> bool:
        """Reserve `amount` calls; False (and nothing reserved) once the day's budget is spent."""
        now = now or datetime.now(get_settings().tz)
        key = self._key(now)
        client = get_redis()
        used = int(client.incrby(key, amount))
        if used == amount:
            client.expire(key, timedelta(days=2))
        if used > self.limit:
            client.decrby(key, amount)
            return False
        return True

    def used(self, *, now: datetime | None = None) -> int:
        now = now or datetime.now(get_settings().tz)
        return int(get_redis().get(self._key(now)) or 0)


def set_json(key: str, value: Any, *, ttl_seconds: int) -> None:
    get_redis().set(f"{KEY_PREFIX}{key}", json.dumps(value, default=str), ex=ttl_seconds)


def get_json(key: str) -> Any | None:
    raw = get_redis().get(f"{KEY_PREFIX}{key}")
    return None if raw is None else json.loads(raw)
