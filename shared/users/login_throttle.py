"""Login attempts counted per account and per client IP in Redis, in fixed windows.

Every attempt is counted before the password is checked (INCR is atomic, so a burst of
parallel guesses cannot slip through between a check and an increment). A successful
login clears the account's counter and gives the IP its attempt back, so a user who types
the password right is not locked out by their own earlier typos.

If Redis is unreachable the check lets the attempt through (and logs it): login stays
available, and bcrypt's cost still bounds guessing speed.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

from shared.config import get_settings
from shared.lazy_module import lazy_module
from shared.stores.redis import KEY_PREFIX, get_redis

if TYPE_CHECKING:
    import redis
else:
    redis = lazy_module("redis")  # imported by the first call that talks to Redis

log = logging.getLogger(__name__)

# One address may try several accounts (an office behind one NAT, a shared proxy): it gets
# this many times an account's allowance. The account limit stops guessing one password;
# the IP limit stops spraying guesses across many accounts.
IP_LIMIT_FACTOR = 4


class LoginThrottled(Exception):
    """Too many attempts: retry after this many seconds."""

    def __init__(self, *, retry_after_seconds: int, scope: str) -> None:
        super().__init__(f"too many login attempts for this {scope}; retry in {retry_after_seconds}s")
        self.retry_after_seconds = retry_after_seconds
        self.scope = scope


def _keys(email: str, client_ip: str) -> dict[str, str]:
    # Hash the email: key names show up in Redis monitoring, addresses should not.
    account = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return {"account": f"{KEY_PREFIX}login:account:{account}", "ip": f"{KEY_PREFIX}login:ip:{client_ip}"}


_COUNT_SCRIPT = """
local out = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('incr', key)
  if n == 1 then redis.call('expire', key, ARGV[1]) end
  local ttl = redis.call('ttl', key)
  if ttl < 0 then redis.call('expire', key, ARGV[1]); ttl = tonumber(ARGV[1]) end
  out[#out + 1] = n
  out[#out + 1] = ttl
end
return out
"""


def register_attempt(*, email: str, client_ip: str) -> None:
    """Count one attempt; raises LoginThrottled when the account or the IP is over its limit."""
    settings = get_settings()
    keys = _keys(email, client_ip)
    try:
        counts = get_redis().eval(_COUNT_SCRIPT, 2, keys["account"], keys["ip"], settings.login_window_seconds)
    except redis.RedisError as exc:
        log.warning("login throttle unavailable; attempt allowed", extra={"error": str(exc)})
        return
    limits = {"account": settings.login_attempts_per_window, "ip": settings.login_attempts_per_window * IP_LIMIT_FACTOR}
    for index, (scope, limit) in enumerate(limits.items()):
        attempts, ttl = int(counts[2 * index]), int(counts[2 * index + 1])
        if attempts > limit:
            log.warning("login throttled", extra={"scope": scope, "client_ip": client_ip, "attempts": attempts})
            raise LoginThrottled(retry_after_seconds=max(1, ttl), scope=scope)


def register_success(*, email: str, client_ip: str) -> None:
    keys = _keys(email, client_ip)
    try:
        pipeline = get_redis().pipeline()
        pipeline.delete(keys["account"])
        pipeline.decr(keys["ip"])
        pipeline.execute()
    except redis.RedisError as exc:
        log.warning("login throttle reset failed", extra={"error": str(exc)})
