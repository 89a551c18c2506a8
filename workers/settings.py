"""arq WorkerSettings and the worker Kassa runs: `kassa worker` (and `kassa run` beside the API).

`KassaWorker` is arq's worker made to outlive Redis: when Redis goes away (a restart, a network
cut) it logs once, retries with exponential backoff (0.5 s doubling up to 30 s, with jitter) and
goes on where it was; a job whose end could not be recorded is run again (every job is safe to
run twice). While it polls it writes a heartbeat (`app/platform/health.py`) that `/health`
reads. Beside the poll loop, each worker runs the job outbox relay (`app/kit/jobs.py`).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import pkgutil
import socket
import time
import uuid
from typing import Any

from arq.connections import create_pool
from arq.worker import Worker, get_kwargs
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import WatchError

from app import load_scope_declarations
from app.config import get_settings
from app.kit.backoff import backoff_delay
from app.kit.db import create_engine, create_session_factory
from app.platform.health import record_heartbeat
from app.platform.services import redis_settings_from_url
import workers
from workers.outbox_relay import run_relay
from workers.webhook_delivery import webhook_client
from workers.registry import CRON_JOBS, REGISTRY, SLOTS

# Every module of workers/ is imported, which registers its jobs: a new domain's job module is
# found without a change here.
load_scope_declarations()  # every domain's access token scopes (app/<domain>/scopes.py)
for _module in pkgutil.iter_modules(workers.__path__):
    if _module.name != "settings":
        importlib.import_module(f"workers.{_module.name}")

logger = logging.getLogger("kassa.workers")

REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)
RECONNECT_FIRST_DELAY = 0.5
RECONNECT_MAX_DELAY = 30.0


def reconnect_delay(failures: int) -> float:
    return backoff_delay(failures, first=RECONNECT_FIRST_DELAY, cap=RECONNECT_MAX_DELAY)


async def startup(ctx: dict[str, Any]) -> None:
    settings = get_settings()
    ctx["settings"] = settings
    ctx["engine"] = create_engine(settings.database_url, role=settings.database_app_role, pool_size=settings.db_pool_size)
    ctx["session_factory"] = create_session_factory(ctx["engine"])
    ctx["http"] = webhook_client(settings)
    ctx["relay"] = asyncio.create_task(
        run_relay(ctx["session_factory"], ctx["redis"], older_than=settings.outbox_relay_after_seconds)
    )


async def shutdown(ctx: dict[str, Any]) -> None:
    if "relay" in ctx:
        ctx["relay"].cancel()
        await asyncio.gather(ctx["relay"], return_exceptions=True)
    if "http" in ctx:
        await ctx["http"].aclose()
    if "engine" in ctx:
        await ctx["engine"].dispose()


class WorkerSettings:
    functions = list(REGISTRY.values())
    cron_jobs = list(CRON_JOBS)
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings_from_url(get_settings().redis_url)
    max_jobs = 20
    poll_delay = 0.05  # seconds between looks at the queue: the floor of a job's start delay
    # job ids read per look: jobs at their slots' limit stay queued, so the look reaches past a
    # backlog of them to the others
    queue_read_limit = 500
    job_timeout = 300


class KassaWorker(Worker):
    """arq's worker, reconnecting to Redis by itself and writing a heartbeat."""

    def __init__(self, *args: Any, heartbeat_seconds: float = 5.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.heartbeat_seconds = heartbeat_seconds
        self.worker_name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.redis_failures = 0
        self._last_heartbeat = 0.0
        self.running: dict[str, int] = {}  # job name -> its runs here now, for the jobs with slots

    async def main(self) -> None:
        while self._pool is None:  # Redis down at start: wait for it
            try:
                self._pool = await create_pool(
                    self.redis_settings,
                    job_deserializer=self.job_deserializer,
                    job_serializer=self.job_serializer,
                    default_queue_name=self.queue_name,
                    expires_extra_ms=self.expires_extra_ms,
                )
            except REDIS_ERRORS as exc:
                await self._redis_lost(exc)
        await super().main()

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
            if time.monotonic() - self._last_heartbeat >= self.heartbeat_seconds:
                await record_heartbeat(self.pool, self.worker_name)
                self._last_heartbeat = time.monotonic()
        except REDIS_ERRORS as exc:
            await self._redis_lost(exc)
            return
        if self.redis_failures:
            logger.info("Redis is reachable again after %d failed tries; going on", self.redis_failures)
            self.redis_failures = 0

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        # arq takes a slot (semaphore, counter) before asking Redis about a job; when Redis
        # fails right then, give the slot back, or a few outages would leave no slot at all.
        # A job with slots (registry SLOTS, named by its id's prefix) that has as many running
        # here as it may stays queued: a backlog of it never takes every slot from the others.
        for job_id in job_ids:
            name = job_id.decode().split(":", 1)[0]
            limit = SLOTS.get(name)
            if limit is not None and self.running.get(name, 0) >= limit:
                continue
            task_before = self.tasks.get(job_id.decode())
            try:
                await self._start_job(job_id)
            except REDIS_ERRORS:
                if self.tasks.get(job_id.decode()) is task_before:
                    self.job_counter -= 1
                    self.sem.release()
                raise
            task = self.tasks.get(job_id.decode())
            if limit is not None and task is not None and task is not task_before:
                self.running[name] = self.running.get(name, 0) + 1
                task.add_done_callback(lambda _task, name=name: self._finished(name))

    def _finished(self, name: str) -> None:
        self.running[name] -= 1

    async def _start_job(self, job_id: bytes) -> None:
        try:
            await super().start_jobs([job_id])
        except WatchError as exc:
            # redis-py's name for a connection lost while arq watches the job's keys: an outage
            # like any other (arq expects WatchError only from EXEC)
            if not isinstance(exc.__cause__, REDIS_ERRORS):
                raise
            raise RedisConnectionError(str(exc)) from exc

    async def run_job(self, job_id: str, score: int) -> None:
        # A job whose start or end could not be written to Redis: log it here, rather than let
        # the poll loop take the stale error for a new outage. arq runs it again once its
        # in-progress mark expires (if Redis kept its data; else the sweeps catch up).
        try:
            await super().run_job(job_id, score)
        except REDIS_ERRORS as exc:
            logger.warning("job %s: Redis unreachable around its run (%s: %s)", job_id, type(exc).__name__, exc)

    async def _redis_lost(self, exc: BaseException) -> None:
        self.redis_failures += 1
        self._last_heartbeat = 0.0  # check in again as soon as Redis is back
        delay = reconnect_delay(self.redis_failures)
        log = logger.warning if self.redis_failures == 1 else logger.info
        log("Redis unreachable (%s: %s); retry %d in %.1f s", type(exc).__name__, exc, self.redis_failures, delay)
        await asyncio.sleep(delay)

    async def close(self) -> None:
        try:
            await super().close()
        except REDIS_ERRORS as exc:  # stopping while Redis is down: still release the rest
            logger.warning("Redis unreachable while stopping (%s)", type(exc).__name__)
            if self.on_shutdown:
                await self.on_shutdown(self.ctx)
            self._pool = None


def create_worker(**overrides: Any) -> KassaWorker:
    settings = get_settings()
    return KassaWorker(
        **{**get_kwargs(WorkerSettings), "heartbeat_seconds": settings.worker_heartbeat_seconds, **overrides}
    )
