"""Worker heartbeats and the `/health` report.

Every worker writes a heartbeat to Redis while it polls the queue (`record_heartbeat`, every
`worker_heartbeat_seconds`): the sorted set `kassa:workers`, one member per worker process,
scored by the time it last checked in. `/health` (`report`) reads it together with the age of
the oldest due job in arq's queue (one Lua call) and the job outbox backlog (one SQL statement).
"""

from __future__ import annotations

import time
from typing import Any

from arq.constants import default_queue_name, in_progress_key_prefix
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings

HEARTBEATS_KEY = "kassa:workers"
_FORGET_AFTER_MS = 24 * 3600 * 1000  # heartbeats of workers gone for a day are dropped


async def record_heartbeat(redis, worker_name: str) -> None:
    """One round trip: this worker checked in now."""
    now_ms = int(time.time() * 1000)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zadd(HEARTBEATS_KEY, {worker_name: now_ms})
        pipe.zremrangebyscore(HEARTBEATS_KEY, "-inf", now_ms - _FORGET_AFTER_MS)
        await pipe.execute()


# due jobs, the score of the oldest due job no worker is running (-1: none), the latest
# heartbeat (-1: none) and the number of workers seen since ARGV[2]
_QUEUE_STATE = """
local now = tonumber(ARGV[1])
local due = redis.call('ZCOUNT', KEYS[1], '-inf', now)
local oldest = -1
if due > 0 then
  local entries = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, 100)
  for i = 1, #entries, 2 do
    if redis.call('EXISTS', KEYS[2] .. entries[i]) == 0 then
      oldest = tonumber(entries[i + 1])
      break
    end
  end
end
local last = redis.call('ZREVRANGE', KEYS[3], 0, 0, 'WITHSCORES')
local seen = -1
if #last > 0 then seen = tonumber(last[2]) end
return {due, oldest, seen, redis.call('ZCOUNT', KEYS[3], ARGV[2], '+inf')}
"""

_OUTBOX_STATE = text(
    """
    SELECT (SELECT coalesce(sum(jsonb_array_length(jobs)), 0) FROM (SELECT jobs FROM job_outbox LIMIT 10000) AS capped) AS waiting,
           EXTRACT(EPOCH FROM clock_timestamp() - (SELECT min(created_at) FROM job_outbox)) AS oldest
    """
)


def _error(exc: Exception) -> str:
    return f"error: {type(exc).__name__}"


async def report(settings: Settings, session_factory: async_sessionmaker[AsyncSession], redis) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): 200 when every check is "ok", else 503."""
    body: dict[str, Any] = {"status": "ok", "database": "ok", "redis": "ok", "worker": "ok", "queue": "ok"}
    metrics: dict[str, Any] = {}
    lags: list[float] = []
    try:
        async with session_factory() as session:
            waiting, oldest = (await session.execute(_OUTBOX_STATE)).one()
        metrics["outbox_jobs"] = waiting
        metrics["outbox_oldest_seconds"] = round(float(oldest or 0), 1)
        lags.append(metrics["outbox_oldest_seconds"])
    except Exception as exc:  # noqa: BLE001 - a health check reports any failure
        body["database"] = _error(exc)
    now_ms = int(time.time() * 1000)
    stale_ms = int(settings.health_worker_stale_seconds * 1000)
    try:
        due, oldest_ms, seen_ms, workers = await redis.eval(
            _QUEUE_STATE, 3, default_queue_name, in_progress_key_prefix, HEARTBEATS_KEY, now_ms, now_ms - stale_ms
        )
        metrics["queue_due_jobs"] = due
        metrics["queue_lag_seconds"] = round(max(now_ms - oldest_ms, 0) / 1000, 1) if oldest_ms >= 0 else 0.0
        lags.append(metrics["queue_lag_seconds"])
        metrics["workers"] = workers
        metrics["worker_last_seen_seconds"] = round((now_ms - seen_ms) / 1000, 1) if seen_ms >= 0 else None
        if stale_ms > 0 and workers == 0:
            seen = metrics["worker_last_seen_seconds"]
            body["worker"] = f"stale: last seen {seen:.0f} s ago" if seen is not None else "stale: no worker has checked in"
    except Exception as exc:  # noqa: BLE001
        body["redis"] = _error(exc)
        body["worker"] = "unknown: Redis unreachable"
    max_lag = settings.health_max_lag_seconds
    if max_lag > 0 and lags and max(lags) > max_lag:
        body["queue"] = f"lagging: jobs wait {max(lags):.0f} s (limit {max_lag:.0f} s)"
    healthy = all(body[check] == "ok" for check in ("database", "redis", "worker", "queue"))
    body["status"] = "ok" if healthy else "unavailable"
    body["metrics"] = metrics
    return (200 if healthy else 503), body
