"""Background jobs: requested inside a transaction, enqueued only after it commits.

A service calls `enqueue_after_commit(session, "domain.verb", id, ...)`; the request is kept
on the session and sent to arq by `commit(session, queue)` once the commit succeeded. A
rollback drops the requests, so a rolled-back mutation enqueues nothing. Jobs are named and
take ids only; every job is safe to run twice.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from arq.constants import expires_extra_ms, job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

logger = logging.getLogger("kassa.jobs")

_PENDING = "kassa_pending_jobs"


@dataclass(frozen=True)
class JobRequest:
    name: str
    args: tuple[Any, ...]
    defer_until: datetime | None = None
    job_id: str | None = None


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


def enqueue_after_commit(
    session: AsyncSession, name: str, *args: Any, defer_until: datetime | None = None, job_id: str | None = None
) -> None:
    """Ask for job `name(*args)` once the session's transaction commits (ids as strings)."""
    session.sync_session.info.setdefault(_PENDING, []).append(
        JobRequest(name=name, args=tuple(_plain(a) for a in args), defer_until=defer_until, job_id=job_id)
    )


def enqueue_coalesced_after_commit(session: AsyncSession, name: str, entity_id: Any, *, window: float) -> None:
    """Ask for `name(entity_id)` after commit, sharing one job with every request for the same
    entity in the same `window` of seconds: the job's id names the time slot, and it starts when
    the slot ends, so after every commit that asked for it. A burst of changes costs one run."""
    slot = int(time.time() / window) + 1
    run_at = datetime.fromtimestamp(slot * window, tz=timezone.utc)
    enqueue_after_commit(session, name, entity_id, defer_until=run_at, job_id=f"{name}:{entity_id}:{slot}")


@event.listens_for(Session, "after_soft_rollback")
def _drop_on_rollback(session: Session, _previous_transaction) -> None:
    session.info.pop(_PENDING, None)


# Enqueue many jobs in one round trip, with arq's own semantics: a job whose id is already
# queued, running or holding a result is skipped (that is how coalesced ids deduplicate).
_ENQUEUE_MANY = """
local queue = ARGV[1]
local added = 0
for i = 2, #ARGV, 4 do
  local id = ARGV[i]
  local key = KEYS[1] .. id
  if redis.call('EXISTS', key, KEYS[2] .. id) == 0 then
    redis.call('PSETEX', key, ARGV[i + 2], ARGV[i + 3])
    redis.call('ZADD', queue, ARGV[i + 1], id)
    added = added + 1
  end
end
return added
"""


async def send(queue, requests: list[JobRequest]) -> int:
    """Enqueue on arq in one round trip; returns how many were new. A failure is logged, not
    raised: the transaction is already committed, and the periodic sweeps pick up whatever a
    lost job would have done."""
    if not requests:
        return 0
    now_ms = int(time.time() * 1000)
    args: list[Any] = [queue.default_queue_name]
    seen: set[str] = set()
    for request in requests:
        job_id = request.job_id or uuid.uuid4().hex
        if job_id in seen:
            continue
        seen.add(job_id)
        score = int(request.defer_until.timestamp() * 1000) if request.defer_until else now_ms
        payload = serialize_job(request.name, request.args, {}, None, now_ms, serializer=queue.job_serializer)
        args += [job_id, score, score - now_ms + expires_extra_ms, payload]
    try:
        return int(await queue.eval(_ENQUEUE_MANY, 2, job_key_prefix, result_key_prefix, *args))
    except Exception:  # noqa: BLE001
        logger.exception("could not enqueue %d jobs after commit", len(seen))
        return 0


async def commit(session: AsyncSession, queue) -> None:
    """Commit, then enqueue the jobs the transaction asked for."""
    requests = session.sync_session.info.pop(_PENDING, [])
    await session.commit()
    if requests and queue is not None:
        await send(queue, requests)
