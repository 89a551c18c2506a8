"""A renewal worker that dies for real (SIGKILL, no cleanup of any kind) in the middle of a
renewal job, for tests/subscriptions/test_workers.py:

    python -m tests.subscriptions.killed_worker DATABASE_URL REDIS_URL ORGANIZATION_ID NOW KILL_AT_BATCH

It runs the job `subscriptions.renew_batch` of the organization at business time NOW (ISO 8601)
and, in its KILL_AT_BATCH-th batch (1: the first), once `renew_due` has written everything of
the batch and before the batch commits, prints `backend <pid>` (its PostgreSQL backend, so the
test can wait for the server to notice) and kills itself."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from datetime import datetime

from sqlalchemy import text


async def main(database_url: str, redis_url: str, organization_id: str, now: str, kill_at_batch: int) -> None:
    from arq.connections import create_pool

    from app.auth.service import job_scope
    from app.config import Settings
    from app.kit import clock
    from app.kit.db import create_engine, create_session_factory
    from app.platform.services import redis_settings_from_url
    from app.subscriptions import service
    from workers.subscriptions import renew_batch

    clock.set(datetime.fromisoformat(now))
    engine = create_engine(database_url, role=Settings().database_app_role, pool_size=1)
    redis = await create_pool(redis_settings_from_url(redis_url))
    real = service.renew_due
    batches = 0

    async def renew_due_then_die(session, scope, **kwargs):
        nonlocal batches
        batches += 1
        renewed = await real(session, scope, **kwargs)
        if batches == kill_at_batch:
            pid = await session.scalar(text("SELECT pg_backend_pid()"))
            print(f"renewed {renewed}", flush=True)
            print(f"backend {pid}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        return renewed

    service.renew_due = renew_due_then_die
    await renew_batch({"session_factory": create_session_factory(engine), "redis": redis}, job_scope(uuid.UUID(organization_id)))
    print("not killed", flush=True)


if __name__ == "__main__":
    database_url, redis_url, organization_id, now, kill_at_batch = sys.argv[1:6]
    asyncio.run(main(database_url, redis_url, organization_id, now, int(kill_at_batch)))
