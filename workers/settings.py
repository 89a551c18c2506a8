"""arq WorkerSettings, started by `kassa worker` (and by `kassa run` beside the API)."""

from __future__ import annotations

from typing import Any

from arq import cron

from app.config import get_settings
from app.kit.db import create_engine, create_session_factory
from app.platform.services import redis_settings_from_url
from app.webhooks.delivery import webhook_client
from workers import meters, system, webhooks  # noqa: F401 - registers the jobs
from workers.registry import REGISTRY


async def startup(ctx: dict[str, Any]) -> None:
    settings = get_settings()
    ctx["settings"] = settings
    ctx["engine"] = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    ctx["session_factory"] = create_session_factory(ctx["engine"])
    ctx["http"] = webhook_client(settings)


async def shutdown(ctx: dict[str, Any]) -> None:
    if "http" in ctx:
        await ctx["http"].aclose()
    if "engine" in ctx:
        await ctx["engine"].dispose()



class WorkerSettings:
    functions = list(REGISTRY.values())
    cron_jobs = [
        cron(REGISTRY["webhooks.sweep"].coroutine, name="webhooks.sweep.cron", second=0, unique=True, run_at_startup=True),
        cron(REGISTRY["meters.sweep"].coroutine, name="meters.sweep.cron", second=30, unique=True, run_at_startup=True),
    ]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings_from_url(get_settings().redis_url)
    max_jobs = 20
    poll_delay = 0.05  # seconds between looks at the queue: the floor of a job's start delay
    job_timeout = 300
