"""System jobs."""

from __future__ import annotations

from typing import Any

from workers.registry import job


@job("system.ping")
async def ping(ctx: dict[str, Any]) -> str:
    """A no-op job: proves a worker is consuming the queue."""
    return "pong"
