"""The outbox relay, run by every worker beside its jobs (app/kit/jobs.py writes the outbox):
it deletes the job outbox rows their committer marked sent, in bulk, and sends to arq the jobs of
those it did not (Redis was down, the process died in between, a plain `session.commit()`). It
owns its commits and reads the rows of every organization."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import Uuid, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.kit.backoff import backoff_delay
from app.kit.jobs import SENT_PREFIX, decode_requests, enqueue

logger = logging.getLogger("kassa.jobs")

RELAY_BATCH = 100  # outbox rows (transactions) relayed at a time

_CLAIM = text(
    """
    SELECT id, jobs FROM job_outbox
    WHERE created_at < clock_timestamp() - make_interval(secs => :older_than)
    ORDER BY created_at LIMIT :limit
    FOR UPDATE SKIP LOCKED
    """
).columns(id=Uuid, jobs=JSONB)
_DELETE_RELAYED = text("DELETE FROM job_outbox WHERE id = ANY(CAST(:ids AS uuid[]))")


async def relay_outbox(
    session_factory: async_sessionmaker[AsyncSession], queue, *, older_than: float, limit: int = RELAY_BATCH
) -> int:
    """Delete outbox rows older than `older_than` seconds, sending to arq first the jobs of those
    not marked sent by their committer; returns how many rows (each holds one transaction's jobs).
    Rows are claimed with `FOR UPDATE SKIP LOCKED`, so any number of relays can run at once.
    Raises when Redis (or PostgreSQL) fails: the rows stay for the next try."""
    async with session_factory() as session:
        rows = (await session.execute(_CLAIM, {"older_than": older_than, "limit": limit})).all()
        if not rows:
            await session.rollback()
            return 0
        marks = [f"{SENT_PREFIX}{row.id}" for row in rows]
        sent = await queue.mget(marks)
        unsent = [row for row, mark in zip(rows, sent) if mark is None]
        requests = [request for row in unsent for request in decode_requests(row.jobs)]
        await enqueue(queue, requests)
        await session.execute(_DELETE_RELAYED, {"ids": [r.id for r in rows]})
        await session.commit()
    await queue.delete(*marks)
    if unsent:
        logger.info("relayed %d jobs of %d transactions from the outbox", len(requests), len(unsent))
    return len(rows)


async def run_relay(
    session_factory: async_sessionmaker[AsyncSession],
    queue,
    *,
    older_than: float,
    interval: float = 1.0,
    max_backoff: float = 30.0,
) -> None:
    """Relay the outbox every `interval` seconds until cancelled. A failure (Redis or
    PostgreSQL down) is logged once and retried with exponential backoff and jitter."""
    failures = 0
    while True:
        try:
            relayed = await relay_outbox(session_factory, queue, older_than=older_than)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - keep relaying whatever happens
            failures += 1
            delay = backoff_delay(failures + 1, first=interval, cap=max_backoff)
            log = logger.warning if failures == 1 else logger.debug
            log("outbox relay failed (%s: %s); retrying in %.1f s", type(exc).__name__, exc, delay)
            await asyncio.sleep(delay)
            continue
        if failures:
            logger.info("outbox relay works again after %d failed tries", failures)
            failures = 0
        if relayed < RELAY_BATCH:
            await asyncio.sleep(interval)
