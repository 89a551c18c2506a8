"""`kassa worker` outlives a Redis restart: it reconnects by itself and goes on."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest

from arq import create_pool
from arq.connections import RedisSettings
from arq.constants import default_queue_name

from app.config import PROJECT_ROOT
from app.platform.health import HEARTBEATS_KEY
from tests.redis_server import RedisServer


async def _until(predicate, timeout: float, what: str, log) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, f"{what} within {timeout} s; worker log:\n{log()}"
        await asyncio.sleep(0.1)


async def test_worker_reconnects_after_redis_restarts(services, engine, tmp_path):
    test_services, _ = services
    server = RedisServer(tmp_path)
    server.start()
    env = {
        **os.environ,
        "DATABASE_URL": test_services.database_url,
        "REDIS_URL": server.url,
        "KASSA_WORKER_HEARTBEAT": "0.2",
        "PYTHONUNBUFFERED": "1",
    }
    log_path = tmp_path / "worker.log"
    log_file = open(log_path, "w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker"], cwd=PROJECT_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT
    )
    settings = RedisSettings(host="127.0.0.1", port=server.port, conn_retries=0)
    pool = None
    try:
        pool = await create_pool(settings)

        async def checked_in() -> bool:
            return await pool.zcard(HEARTBEATS_KEY) > 0

        await _until(checked_in, 20, "the worker did not check in", log_path.read_text)
        await pool.aclose()

        server.kill()  # Redis crashes...
        await asyncio.sleep(1.0)
        assert worker.poll() is None, f"the worker exited with Redis:\n{log_path.read_text()}"
        server.start()  # ...and comes back, empty, on the same port

        pool = await create_pool(settings)
        await pool.enqueue_job("system.ping", _job_id="after-the-restart")

        async def processed() -> bool:
            return await pool.zcard(default_queue_name) == 0 and await pool.zcard(HEARTBEATS_KEY) > 0

        await _until(processed, 20, "the job enqueued after the restart was not processed", log_path.read_text)
        assert worker.poll() is None
        assert "Redis unreachable" in log_path.read_text()
    finally:
        if pool is not None:
            await pool.aclose()
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGTERM)
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        server.kill()
        log_file.close()


async def test_a_connection_lost_while_a_job_is_watched_is_an_outage_not_a_crash(monkeypatch):
    """Redis dying while arq watches a job's keys (before taking it) reaches the worker as
    redis-py's WatchError; the worker gives the job's slot back and treats it as an outage (the
    poll loop reconnects), as for any lost connection: it used to exit."""
    from arq.worker import Worker
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import WatchError

    from workers.settings import create_worker

    async def lost_while_watching(self, job_ids):
        self.job_counter += 1  # arq takes the slot before it asks Redis
        await self.sem.acquire()
        try:
            raise RedisConnectionError("Connection reset by peer")
        except RedisConnectionError as error:
            raise WatchError("A ConnectionError occurred on while watching one or more keys") from error

    monkeypatch.setattr(Worker, "start_jobs", lost_while_watching)
    worker = create_worker(redis_settings=RedisSettings(host="127.0.0.1", port=1, conn_retries=0))
    slots = worker.sem._value
    with pytest.raises(RedisConnectionError):
        await worker.start_jobs([b"job-1"])
    assert (worker.job_counter, worker.sem._value) == (0, slots)

    async def other_watch_error(self, job_ids):
        raise WatchError("the watched key changed")

    monkeypatch.setattr(Worker, "start_jobs", other_watch_error)
    with pytest.raises(WatchError):  # not an outage: not hidden
        await worker.start_jobs([b"job-2"])
