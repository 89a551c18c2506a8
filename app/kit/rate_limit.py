"""Fairness between organizations: a rate limit per organization, shared by every API process
through Redis, and a cap on each organization's requests in flight in this process.

- The rate limit is a GCRA (a token bucket without a refill timer): `per_second` requests a
  second on average, `burst` at once from a rested bucket. One Lua script decides and records
  in one round trip (`EVALSHA`), with Redis's own clock, so every API process shares the bucket.
  If Redis does not answer, requests are allowed (fail open): the outage is logged once and
  Redis is not asked again for a few seconds.
- The concurrency cap is a semaphore per organization: beyond `limit` requests in flight, a
  request waits up to `wait_seconds` for a slot (after handing its database connection back),
  then is refused.

Both refuse with `RateLimited`, which says when to retry. A limit of 0 disables it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any, Awaitable, Callable

from redis.exceptions import RedisError

logger = logging.getLogger("kassa.rate_limit")

_FAIL_OPEN_SECONDS = 5.0

# KEYS[1]: the bucket; ARGV[1]: microseconds between requests (1 / rate);
# ARGV[2]: how far ahead of now the bucket may run, in microseconds (burst * interval).
# The key holds the "theoretical arrival time" of the next request; it expires when the bucket
# is full again, so a quiet organization costs no memory.
# Returns {1, 0} (allowed) or {0, microseconds until a request would be allowed}.
_GCRA = """
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local next_tat = tat + interval
local allowed_at = next_tat - window
if allowed_at > now then
  return {0, math.ceil(allowed_at - now)}
end
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1)
return {1, 0}
"""


class RateLimited(Exception):
    """Too many requests from one organization: retry after `retry_after` seconds."""

    code = "RATE_LIMITED"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class RateLimiter:
    """The per-organization request rate, in Redis (GCRA, one script call per request)."""

    def __init__(self, redis: Any, per_second: float, burst: int, *, prefix: str = "kassa:rate:") -> None:
        self.enabled = per_second > 0 and burst > 0
        self.per_second, self.burst, self.prefix = per_second, burst, prefix
        self._interval = max(1, round(1_000_000 / per_second)) if self.enabled else 0
        self._window = self._interval * burst
        self._script = redis.register_script(_GCRA) if self.enabled else None
        self._skip_until = 0.0
        self._failing = False

    async def check(self, key: str) -> None:
        if not self.enabled or time.monotonic() < self._skip_until:
            return
        try:
            allowed, wait_us = await self._script(keys=[self.prefix + key], args=[self._interval, self._window])
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            if not self._failing:
                logger.warning("Rate limit not enforced: Redis did not answer (%s: %s); requests are allowed until it does", type(exc).__name__, exc)
            self._failing = True
            self._skip_until = time.monotonic() + _FAIL_OPEN_SECONDS
            return
        if self._failing:
            self._failing = False
            logger.warning("Rate limit enforced again: Redis answers")
        if not allowed:
            retry_after = max(1, math.ceil(int(wait_us) / 1_000_000))
            raise RateLimited(
                f"Too many requests for this organization (at most {self.per_second:g} a second, {self.burst} at once): "
                f"retry after {retry_after} s",
                retry_after,
            )


class _Slots:
    __slots__ = ("semaphore", "users")

    def __init__(self, limit: int) -> None:
        self.semaphore = asyncio.Semaphore(limit)
        self.users = 0


def _nothing() -> None:
    return None


class ConcurrencyLimiter:
    """At most `limit` requests in flight per organization in this process."""

    def __init__(self, limit: int, wait_seconds: float) -> None:
        self.limit, self.wait_seconds = limit, wait_seconds
        self._slots: dict[str, _Slots] = {}

    async def acquire(self, key: str, before_wait: Callable[[], Awaitable[Any]] | None = None) -> Callable[[], None]:
        """Take a slot and return the function that gives it back (safe to call twice)."""
        if self.limit <= 0:
            return _nothing
        slots = self._slots.get(key)
        if slots is None:
            slots = self._slots[key] = _Slots(self.limit)
        slots.users += 1
        try:
            if slots.semaphore.locked():
                if before_wait is not None:
                    await before_wait()  # a waiting request holds no database connection
                try:
                    async with asyncio.timeout(self.wait_seconds):
                        await slots.semaphore.acquire()
                except TimeoutError:
                    raise RateLimited(
                        f"Too many requests in flight for this organization (at most {self.limit} at once): retry after 1 s", 1
                    ) from None
            else:
                await slots.semaphore.acquire()
        except BaseException:
            self._leave(key, slots)
            raise
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                slots.semaphore.release()
                self._leave(key, slots)

        return release

    def _leave(self, key: str, slots: _Slots) -> None:
        slots.users -= 1
        if slots.users == 0 and self._slots.get(key) is slots:
            del self._slots[key]


class OrganizationLimits:
    """Both limits of one API process: `admit` an authenticated request, then `release`."""

    def __init__(self, redis: Any, *, per_second: float, burst: int, max_concurrent: int, wait_seconds: float) -> None:
        self.rate = RateLimiter(redis, per_second, burst)
        self.concurrency = ConcurrencyLimiter(max_concurrent, wait_seconds)

    @classmethod
    def from_settings(cls, settings: Any, redis: Any) -> "OrganizationLimits":
        return cls(
            redis,
            per_second=settings.rate_limit_per_second,
            burst=settings.rate_limit_burst,
            max_concurrent=settings.org_max_concurrent_requests,
            wait_seconds=settings.org_concurrency_wait_seconds,
        )

    async def admit(self, organization_id: Any, before_wait: Callable[[], Awaitable[Any]] | None = None) -> Callable[[], None]:
        key = str(organization_id)
        await self.rate.check(key)
        return await self.concurrency.acquire(key, before_wait)
