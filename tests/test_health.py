"""The health endpoint checks the database and Redis."""

from __future__ import annotations

import httpx
from redis.asyncio import Redis

from app.server import create_app


async def test_health_ok(api):
    response = await api.client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


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
