"""arq WorkerSettings, started by `kassa worker` (and by `kassa run` beside the API)."""

from __future__ import annotations

from typing import Any

from arq.connections import RedisSettings

from app.config import get_settings
from app.kit.db import create_engine, create_session_factory
from app.platform.services import redis_settings_from_url


async def startup(ctx: dict[str, Any]) -> None:
    settings = get_settings()
    ctx["engine"] = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    ctx["session_factory"] = create_session_factory(ctx["engine"])


async def shutdown(ctx: dict[str, Any]) -> None:
    engine = ctx.get("engine")
    if engine is not None:
        await engine.dispose()


async def system_ping(ctx: dict[str, Any]) -> str:
    """A no-op job: proves a worker is consuming the queue."""
    return "pong"


def _redis_settings() -> RedisSettings:
    return redis_settings_from_url(get_settings().redis_url)


class WorkerSettings:
    functions = [system_ping]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = _redis_settings()
    max_tries = 5
