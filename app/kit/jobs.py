"""Background jobs: requested inside a transaction, kept in a job outbox, relayed to arq.

A service calls `enqueue_after_commit(session, "domain.verb", id, ...)`; the request is kept on
the session, and written to the `job_outbox` table when the session's transaction commits (one
row holding all the transaction's requests, in that transaction), whether the commit comes from
`commit(session, queue)` or from a plain `session.commit()`. A rollback drops the requests, and a rolled-back savepoint
drops exactly the requests made inside it.

Relaying: `commit(session, queue)`, the one commit path, hands the committed jobs to arq right
after the COMMIT, in one Lua call that also marks the outbox row as sent (a key in Redis); the
request's path costs no second database statement. The workers' outbox relay
(`workers/outbox_relay.py`) then deletes the rows marked sent, in bulk, and sends whatever was not
(Redis was down, the process died in between, a plain `session.commit()`). Redis being down delays jobs, never loses them; a job may be relayed twice,
and every job is safe to run twice. Jobs are named and take ids only.
"""

from __future__ import annotations

import logging
import time
import uuid
import weakref
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from arq.constants import expires_extra_ms, in_progress_key_prefix, job_key_prefix, result_key_prefix
import msgspec
from arq.jobs import serialize_job
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.util import await_only

from app.kit.db import begun_driver, statement_counter
from app.kit.tenancy import bound_scope

logger = logging.getLogger("kassa.jobs")
_json_encode = msgspec.json.Encoder().encode

_PENDING = "kassa_jobs_pending"  # requests not yet written: list[JobRequest]
_MARKS = "kassa_jobs_marks"  # savepoint -> how many requests were pending when it began
_WRITTEN = "kassa_jobs_written"  # rows written by the committing transaction: _Written
_QUEUE = "kassa_jobs_queue"  # set by `commit`: relay right after the COMMIT


@dataclass(frozen=True)
class JobRequest:
    name: str
    args: tuple[Any, ...]
    defer_until: datetime | None = None
    job_id: str | None = None
    coalesced: bool = False  # one job per time slot (`enqueue_coalesced_after_commit`)
    single: bool = False  # one waits until it has begun (`enqueue_single_after_commit`)
    ahead: bool = False  # queued before every job already queued (`enqueue_single_after_commit`)


@dataclass
class _Written:
    row_id: uuid.UUID
    requests: list[JobRequest]


def _encode_requests(requests: list[JobRequest]) -> str:
    """An outbox row's `jobs`: `[[name, args, job id, defer until (epoch ms) or null, coalesced, single, ahead], ...]`."""
    return _json_encode(
        [
            [r.name, list(r.args), r.job_id, r.defer_until.timestamp() * 1000 if r.defer_until else None, r.coalesced, r.single, r.ahead]
            for r in requests
        ]
    ).decode()


def decode_requests(jobs: list[list[Any]]) -> list[JobRequest]:
    """An outbox row's requests (rows written before `coalesced`, `single` and `ahead` were
    recorded have four or five fields)."""
    return [
        JobRequest(
            job[0], tuple(job[1]), datetime.fromtimestamp(job[3] / 1000, tz=timezone.utc) if job[3] is not None else None, job[2],
            coalesced=bool(job[4]) if len(job) > 4 else False,
            single=bool(job[5]) if len(job) > 5 else False,
            ahead=bool(job[6]) if len(job) > 6 else False,
        )
        for job in jobs
    ]


def _count_statement() -> None:
    """Statements sent straight to the driver are counted like SQLAlchemy's (tests, debug header)."""
    counter = statement_counter.get()
    if counter is not None:
        counter[0] += 1


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


def enqueue_after_commit(
    session: AsyncSession | Session,
    name: str,
    *args: Any,
    defer_until: datetime | None = None,
    job_id: str | None = None,
    _coalesced: bool = False,
) -> None:
    """Ask for job `name(*args)` once the session's transaction commits (ids as strings). The
    job id is fixed now, so a job relayed twice is queued once while it waits.

    A job asked for by a session acting for an organization acts for it too: the organization's
    id goes first in its arguments, and `workers.registry.job(..., tenant=True)` turns it back
    into the job's scope (app.kit.tenancy)."""
    sync_session = session.sync_session if isinstance(session, AsyncSession) else session
    scope = bound_scope(sync_session)
    if scope is not None:
        args = (scope.organization_id, *args)
    _pending(sync_session).append(
        JobRequest(name=name, args=tuple(_plain(a) for a in args), defer_until=defer_until, job_id=job_id or uuid.uuid4().hex, coalesced=_coalesced)
    )


def _pending(sync_session: Session) -> list[JobRequest]:
    """The session's requests not yet written (its transaction begun: a rollback before any
    statement must drop a request too)."""
    if not sync_session.in_transaction():
        sync_session.begin()
    return sync_session.info.setdefault(_PENDING, [])


def enqueue_coalesced_after_commit(session: AsyncSession, name: str, entity_id: Any, *, window: float) -> None:
    """Ask for `name(entity_id)` after commit, sharing one job with every request for the same
    entity in the same `window` of seconds: the job's id names the time slot, and it starts when
    the slot ends, so after every commit that asked for it. A burst of changes costs one run."""
    slot = int(time.time() / window) + 1
    run_at = datetime.fromtimestamp(slot * window, tz=timezone.utc)
    enqueue_after_commit(session, name, entity_id, defer_until=run_at, job_id=f"{name}:{entity_id}:{slot}", _coalesced=True)


def single_request(name: str, organization_id: uuid.UUID, *, ahead: bool = False, defer: float = 0.0, job_id: str | None = None) -> JobRequest:
    """The request of `name()`, a job of the organization of which one runs and at most one waits
    (`enqueue_single_after_commit`); `job_id`: a fixed one (a sweep's, per minute), else a new one."""
    run_at = None if ahead else datetime.fromtimestamp(time.time() + defer, tz=timezone.utc)
    return JobRequest(
        name, (str(organization_id),), run_at, job_id or f"{name}:{organization_id}:{uuid.uuid4().hex}", coalesced=True, single=True, ahead=ahead
    )


def enqueue_single_after_commit(session: AsyncSession, name: str, *, ahead: bool = False, defer: float = 0.0) -> None:
    """Ask for `name()`, a job of the session's organization, after commit, unless one is already
    waiting: queued, or started and not yet `begun` (the job calls it once it holds its lock and
    before it reads: what it reads then includes this commit). So however many transactions ask,
    one job runs and at most one waits, instead of a pile of jobs each waiting for the lock.
    `ahead`: queued before every job already queued (its score just below the oldest's: arq takes
    due jobs in score order, and the queue's lag is still the oldest job's), for a job that does
    the work of many others (an organization's usage drain) and must not wait behind a backlog of
    them; `defer`: seconds from now (not ahead)."""
    scope = bound_scope(session.sync_session)
    if scope is None:
        raise RuntimeError(f"{name}: a job asked for once per organization needs a session acting for one")
    _pending(session.sync_session).append(single_request(name, scope.organization_id, ahead=ahead, defer=defer))


_BEGUN = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
redis.call('PSETEX', KEYS[2], ARGV[2], ARGV[1])
return 0
"""
BEGUN_PREFIX = "kassa:begun:"  # entity -> the id of its single job that began last
BEGUN_TTL_MS = 3_600_000


async def begun(queue, name: str, organization_id: uuid.UUID, job_id: str | None) -> None:
    """Called by a job asked for with `enqueue_single_after_commit` once it holds its lock and
    before it reads: it is no longer waiting, so the next request queues a new job; and it is the
    one that began last (`superseded`)."""
    if job_id:
        entity = f"{name}:{organization_id}"
        await queue.eval(_BEGUN, 2, f"{WAITING_PREFIX}{entity}", f"{BEGUN_PREFIX}{entity}", job_id, BEGUN_TTL_MS)


async def superseded(queue, name: str, organization_id: uuid.UUID, job_id: str | None) -> bool:
    """Whether another job `name` of the organization waits, or began after `job_id`: a job that
    would run again (work still pending) can leave it to that one."""
    entity = f"{name}:{organization_id}"
    waiting_id, begun_id = (v.decode() if isinstance(v, bytes) else v for v in await queue.mget(f"{WAITING_PREFIX}{entity}", f"{BEGUN_PREFIX}{entity}"))
    if waiting_id is not None and waiting_id != job_id and await queue.exists(job_key_prefix + waiting_id):
        return True
    return begun_id is not None and job_id is not None and begun_id != job_id


# The coalesced jobs (id -> the epoch second its slot ends) that this process's committed
# transactions have written to the outbox: a later transaction asking for the same slot's job
# writes nothing for it (the committed row will have it run, after this commit too, since it
# starts when the slot ends), unless the slot ends within SLOT_MARGIN seconds. A hot wallet's
# captures ask for its balance-changed job hundreds of times a second: one outbox row per slot.
_COMMITTED_SLOTS: dict[str, float] = {}
SLOT_MARGIN = 0.05


def _remember_slots(requests: list[JobRequest]) -> None:
    now = time.time()
    if len(_COMMITTED_SLOTS) > 10_000:  # forget the slots that have ended
        for job_id in [job_id for job_id, ends in _COMMITTED_SLOTS.items() if ends <= now]:
            del _COMMITTED_SLOTS[job_id]
    for request in requests:
        if request.coalesced and request.job_id is not None and request.defer_until is not None:
            _COMMITTED_SLOTS[request.job_id] = request.defer_until.timestamp()


def forget_committed_slots() -> None:
    """Forget which slots this process committed (for a test that deletes outbox rows: the jobs
    they held are gone, and a later request for the same slot must write its own)."""
    _COMMITTED_SLOTS.clear()


def _already_committed(request: JobRequest, now: float) -> bool:
    return request.coalesced and _COMMITTED_SLOTS.get(request.job_id or "", 0.0) > now + SLOT_MARGIN


# -- the transaction's side: savepoints, writing the outbox rows, relaying after COMMIT ----------


@event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        marks = session.info.setdefault(_MARKS, weakref.WeakKeyDictionary())
        marks[transaction] = len(session.info.get(_PENDING, ()))


@event.listens_for(Session, "after_soft_rollback")
def _drop_on_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    """A rolled-back savepoint drops the requests made inside it (their position is past its
    mark); a rolled-back transaction drops them all (and its outbox rows went with it)."""
    boundary = previous_transaction
    while boundary.parent is not None and not boundary.nested:
        boundary = boundary.parent
    pending = session.info.get(_PENDING)
    if boundary.nested:
        if pending:
            del pending[session.info.get(_MARKS, {}).get(boundary, 0):]
        return
    session.info.pop(_PENDING, None)
    session.info.pop(_WRITTEN, None)


@event.listens_for(Session, "after_transaction_end")
def _forget_at_end(session: Session, transaction: SessionTransaction) -> None:
    """A transaction closed without commit or rollback (`session.close()`) asks for nothing."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_WRITTEN, None)


# One row per committing transaction, whatever the number of its jobs (an ingestion batch asks
# for one meter update per customer): one small INSERT before COMMIT, one DELETE after the relay.
_INSERT_OUTBOX = "INSERT INTO job_outbox (id, jobs, created_at, modified_at) VALUES ($1, $2::jsonb, clock_timestamp(), clock_timestamp())"


@event.listens_for(Session, "before_commit")
def _write_outbox(session: Session) -> None:
    """Write the transaction's requests as one outbox row just before COMMIT (for a savepoint
    being released nothing happens: its requests now belong to the parent). Straight on the
    driver, like the ingestion's batch insert: this runs on every committing request."""
    if session.in_nested_transaction():
        return
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    unique: dict[str | None, JobRequest] = {}
    now = time.time()
    for request in pending:
        if not _already_committed(request, now):
            unique.setdefault(request.job_id, request)  # a coalesced job asked for twice: one entry
    requests = list(unique.values())
    if not requests:
        return
    row_id = uuid.uuid4()
    driver_connection = await_only(begun_driver(session.connection().connection.dbapi_connection))
    await_only(driver_connection.execute(_INSERT_OUTBOX, row_id, _encode_requests(requests)))
    _count_statement()
    session.info[_WRITTEN] = _Written(row_id, requests)


@event.listens_for(Session, "after_commit")
def _relay_committed(session: Session) -> None:
    if session.in_nested_transaction():
        return
    written = session.info.pop(_WRITTEN, None)
    queue = session.info.get(_QUEUE)
    if written is not None:
        _remember_slots(written.requests)
    if written is None or queue is None:
        return  # left to the relay loop
    try:
        await_only(_relay_now(queue, written))
    except Exception:  # noqa: BLE001 - the commit succeeded; the relay loop sends what is left
        logger.exception("could not relay %d committed jobs; the outbox relay will", len(written.requests))


async def _relay_now(queue, written: _Written) -> None:
    """Right after COMMIT: the jobs to arq and the row's sent mark, in one Redis call. The row
    itself is deleted later by the relay loop, in bulk."""
    try:
        await enqueue(queue, written.requests, sent_row=written.row_id)
    except Exception as exc:  # noqa: BLE001 - Redis down: the row waits for the relay loop
        logger.warning("Redis unreachable at commit (%s: %s); %d jobs wait in the outbox", type(exc).__name__, exc, len(written.requests))


async def commit(session: AsyncSession, queue) -> None:
    """The one commit path: commit (the transaction's jobs are written to the outbox in it),
    then hand them to arq at once. A plain `session.commit()` is safe too: its jobs then wait
    for the relay loop (a few seconds)."""
    info = session.sync_session.info
    if queue is not None:
        info[_QUEUE] = queue
    try:
        await session.commit()
    finally:
        info.pop(_QUEUE, None)


# -- Redis ----------------------------------------------------------------------------------------

# Enqueue many jobs in one round trip, with arq's own semantics: a job whose id is already
# queued, running or holding a result is skipped (that is how coalesced ids deduplicate).
# ARGV[2], when not empty, is the key that marks their outbox row as sent (ARGV[3]: its TTL, ms).
# A coalesced job names its entity (name:entity, ARGV[i + 4]): while that entity's last job is
# still queued and has not started, a later slot's job is skipped too: the queued one starts after
# this call, so after the commit that asked (jobs are enqueued after COMMIT), and does the work of
# both. A busy entity (a customer whose usage streams in) so has one job waiting at a time, not
# one per slot piling up behind a backlog. A single job (ARGV[i + 5] = '1',
# `enqueue_single_after_commit`) waits until it calls `begun`, which clears the entity's mark, not
# only until it starts: one that has started but waits for its lock still stands for the request.
# A job `ahead` (ARGV[i + 6] = '1') is scored just below the oldest job queued, if that is earlier
# than now.
_ENQUEUE_MANY = """
local queue = ARGV[1]
local added = 0
if ARGV[2] ~= '' then
  redis.call('PSETEX', ARGV[2], ARGV[3], '1')
end
for i = 4, #ARGV, 7 do
  local id = ARGV[i]
  local key = KEYS[1] .. id
  local entity = ARGV[i + 4]
  local skip = redis.call('EXISTS', key, KEYS[2] .. id) > 0
  if not skip and entity ~= '' then
    local waiting = redis.call('GET', KEYS[4] .. entity)
    if waiting and redis.call('EXISTS', KEYS[1] .. waiting) == 1 and (ARGV[i + 5] == '1' or redis.call('EXISTS', KEYS[3] .. waiting) == 0) then
      skip = true
    end
  end
  if not skip then
    local score = tonumber(ARGV[i + 1])
    if ARGV[i + 6] == '1' then
      local oldest = redis.call('ZRANGE', queue, 0, 0, 'WITHSCORES')
      if oldest[2] and tonumber(oldest[2]) - 1 < score then
        score = tonumber(oldest[2]) - 1
      end
    end
    redis.call('PSETEX', key, ARGV[i + 2], ARGV[i + 3])
    redis.call('ZADD', queue, score, id)
    if entity ~= '' then
      redis.call('PSETEX', KEYS[4] .. entity, ARGV[i + 2], id)
    end
    added = added + 1
  end
end
return added
"""
WAITING_PREFIX = "kassa:coalesced:"  # entity -> the id of its last coalesced job enqueued


SENT_PREFIX = "kassa:outbox:sent:"
SENT_TTL_MS = 3_600_000  # a mark outlives its row by far: the relay deletes both within seconds


async def enqueue(queue, requests: list[JobRequest], *, sent_row: uuid.UUID | None = None) -> int:
    """Enqueue on arq in one round trip; returns how many were new. Raises when Redis fails.
    `sent_row`: the outbox row these jobs came from, marked sent in the same call."""
    if not requests:
        return 0
    now_ms = int(time.time() * 1000)
    args: list[Any] = [queue.default_queue_name, f"{SENT_PREFIX}{sent_row}" if sent_row else "", SENT_TTL_MS]
    seen: set[str] = set()
    for request in requests:
        job_id = request.job_id or uuid.uuid4().hex
        if job_id in seen:
            continue
        seen.add(job_id)
        score = int(request.defer_until.timestamp() * 1000) if request.defer_until else now_ms
        payload = serialize_job(request.name, request.args, {}, None, now_ms, serializer=queue.job_serializer)
        entity = job_id.rsplit(":", 1)[0] if request.coalesced else ""
        args += [job_id, score, max(score - now_ms, 0) + expires_extra_ms, payload, entity, "1" if request.single else "", "1" if request.ahead else ""]
    return int(await queue.eval(_ENQUEUE_MANY, 4, job_key_prefix, result_key_prefix, in_progress_key_prefix, WAITING_PREFIX, *args))


async def send(queue, requests: list[JobRequest]) -> int:
    """Best effort, outside any transaction (the sweeps, a delivery run queueing its own
    follow-up): a failure is logged, not raised; the periodic sweeps make up for it."""
    try:
        return await enqueue(queue, requests)
    except Exception:  # noqa: BLE001
        logger.exception("could not enqueue %d jobs", len(requests))
        return 0
