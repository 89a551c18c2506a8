"""The health endpoint: the database, Redis, a worker that checked in recently, and job lag.

The `api` fixture runs no worker, so the tests that expect "ok" write a worker heartbeat
themselves, exactly as a polling worker does (`record_heartbeat`)."""

from __future__ import annotations

import time
from dataclasses import replace

import httpx
import pytest
from redis.asyncio import Redis

from app.kit.jobs import enqueue_after_commit
from app.platform.health import HEARTBEATS_KEY, record_heartbeat
from app.server import create_app


@pytest.fixture
async def no_worker(redis):
    await redis.delete(HEARTBEATS_KEY, "arq:queue")
    yield
    await redis.delete(HEARTBEATS_KEY, "arq:queue")


async def test_health_ok(api, redis, no_worker):
    await record_heartbeat(redis, "test-worker")
    response = await api.client.get("/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert {k: body[k] for k in ("status", "database", "redis", "worker", "queue")} == {
        "status": "ok", "database": "ok", "redis": "ok", "worker": "ok", "queue": "ok"
    }
    assert body["metrics"]["workers"] == 1
    assert body["metrics"]["worker_last_seen_seconds"] < 5
    assert body["metrics"]["queue_lag_seconds"] == 0
    assert body["metrics"]["outbox_jobs"] == 0


async def test_health_reports_a_dead_redis(settings, session_factory):
    dead = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    app = create_app(settings, session_factory=session_factory, redis=dead)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kassa.test") as client:
        response = await client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["redis"].startswith("error")
    await dead.aclose()


async def test_health_reports_a_stale_worker(api, redis, no_worker):
    response = await api.client.get("/health")  # no worker ever checked in
    assert response.status_code == 503
    assert response.json()["worker"] == "stale: no worker has checked in"
    assert response.json()["database"] == response.json()["redis"] == "ok"

    await redis.zadd(HEARTBEATS_KEY, {"gone": int((time.time() - 95) * 1000)})  # last seen 95 s ago
    response = await api.client.get("/health")
    assert response.status_code == 503
    assert response.json()["worker"] == "stale: last seen 95 s ago"

    await record_heartbeat(redis, "back")
    response = await api.client.get("/health")
    assert response.status_code == 200
    assert response.json()["worker"] == "ok"
    assert response.json()["metrics"]["workers"] == 1


async def test_health_reports_queue_lag(settings, session_factory, redis, no_worker):
    app = create_app(replace(settings, health_max_lag_seconds=60), session_factory=session_factory, redis=redis)
    await record_heartbeat(redis, "busy")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kassa.test") as client:
        await redis.enqueue_job("system.ping", _job_id="waiting", _defer_by=-30)  # due 30 s ago
        response = await client.get("/health")
        assert response.status_code == 200
        assert response.json()["metrics"]["queue_due_jobs"] == 1
        assert 29 <= response.json()["metrics"]["queue_lag_seconds"] <= 35

        await redis.enqueue_job("system.ping", _job_id="late", _defer_by=-120)  # due 2 minutes ago
        response = await client.get("/health")
        assert response.status_code == 503
        body = response.json()
        assert body["queue"].startswith("lagging: jobs wait 12")
        assert body["metrics"]["queue_due_jobs"] == 2
        assert body["worker"] == "ok"


async def test_health_reports_the_outbox_backlog(settings, session_factory, redis, no_worker):
    app = create_app(replace(settings, health_max_lag_seconds=60), session_factory=session_factory, redis=redis)
    await record_heartbeat(redis, "w")
    async with session_factory() as session:  # a plain commit: the job waits for the relay
        enqueue_after_commit(session, "system.ping")
        await session.commit()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kassa.test") as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["metrics"]["outbox_jobs"] == 1
    assert response.json()["metrics"]["outbox_oldest_seconds"] < 5
