"""Jobs are requested in the transaction (a job outbox) and never lost: not by a rolled-back
savepoint, not by a plain `session.commit()`, not by Redis being down at commit."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
import pytest
from arq import create_pool
from arq.connections import RedisSettings
from sqlalchemy import func, select

from app.kit import jobs
from app.kit.jobs import enqueue_after_commit
from app.models import JobOutbox
from app.server import create_app
from tests.conftest import Api, Live, make_org
from tests.meters.helpers import billing, by_meter, condition, create_meter, ingest_rest
from tests.operations import create_customer
from tests.redis_server import RedisServer
from workers.outbox_relay import relay_outbox, run_relay


@pytest.fixture
def remembered():
    """A job `tests.remember(word)` that notes the words it was run with."""
    from workers.registry import REGISTRY, job

    words: list[str] = []

    @job("tests.remember")
    async def remember(ctx, word):
        words.append(word)

    yield words
    REGISTRY.pop("tests.remember")


async def outbox_rows(session_factory) -> int:
    async with session_factory() as session:
        return await session.scalar(select(func.count()).select_from(JobOutbox))


async def test_a_rolled_back_savepoint_drops_only_its_own_jobs(live, remembered):
    async with live.session_factory() as session:
        enqueue_after_commit(session, "tests.remember", "before")
        savepoint = await session.begin_nested()
        enqueue_after_commit(session, "tests.remember", "rolled back")
        await savepoint.rollback()
        async with session.begin_nested():  # released: its job belongs to the transaction
            enqueue_after_commit(session, "tests.remember", "released")
            with pytest.raises(RuntimeError):
                async with session.begin_nested():
                    enqueue_after_commit(session, "tests.remember", "inner rolled back")
                    raise RuntimeError("boom")
        enqueue_after_commit(session, "tests.remember", "after")
        await jobs.commit(session, live.redis)
    await live.run_worker()
    assert sorted(remembered) == ["after", "before", "released"]
    # sent at commit: the relay deletes the row without sending its jobs again
    assert await outbox_rows(live.session_factory) == 1
    assert await relay_outbox(live.session_factory, live.redis, older_than=0) == 1
    assert await outbox_rows(live.session_factory) == 0
    assert len(await live.redis.queued_jobs()) == 0
    await live.run_worker()
    assert sorted(remembered) == ["after", "before", "released"]


async def test_a_rolled_back_transaction_queues_nothing(live, remembered):
    async with live.session_factory() as session:
        enqueue_after_commit(session, "tests.remember", "never")
        await session.rollback()
        await jobs.commit(session, live.redis)
    assert await outbox_rows(live.session_factory) == 0
    assert await live.redis.queued_jobs() == []


async def test_a_plain_commit_keeps_the_jobs_for_the_relay(live, remembered):
    async with live.session_factory() as session:
        enqueue_after_commit(session, "tests.remember", "plain")
        await session.commit()
    assert await live.redis.queued_jobs() == []  # not sent: no queue was given
    assert await outbox_rows(live.session_factory) == 1
    assert await relay_outbox(live.session_factory, live.redis, older_than=60) == 0  # too young yet
    assert await relay_outbox(live.session_factory, live.redis, older_than=0) == 1
    assert await relay_outbox(live.session_factory, live.redis, older_than=0) == 0
    assert await outbox_rows(live.session_factory) == 0
    await live.run_worker()
    assert remembered == ["plain"]


async def test_redis_down_at_commit_delays_the_job_and_loses_nothing(live, tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    redis_settings = RedisSettings(host="127.0.0.1", port=server.port, conn_retries=0, conn_timeout=1)
    queue = await create_pool(redis_settings)
    app = create_app(live.settings, session_factory=live.session_factory, redis=queue)
    relay = None
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kassa.test") as client:
            own = Live(api=Api(client), session_factory=live.session_factory, redis=queue, settings=live.settings)
            org = await make_org(own.session_factory)
            await create_customer(own.api, org.token, email="down@example.com", externalId="down")
            await create_meter(own.api, org.token, "calls", [condition("name", "eq", "call")])
            await own.run_worker()
            await relay_outbox(own.session_factory, queue, older_than=0)  # the rows of the set-up, sent: cleared

            server.kill()  # Redis goes down; the ingestion still succeeds
            response = await ingest_rest(own.api, org.token, [{"name": "call", "external_customer_id": "down"}] * 3)
            assert response.status_code == 200, response.text
            assert await outbox_rows(own.session_factory) == 1  # the update job waits in the outbox

            # the relay keeps trying while Redis is down, and sends the job once it is back
            relay = asyncio.create_task(run_relay(own.session_factory, queue, older_than=0, interval=0.05, max_backoff=0.2))
            await asyncio.sleep(0.3)
            assert not relay.done()
            server.start()
            for _ in range(100):
                if await outbox_rows(own.session_factory) == 0:
                    break
                await asyncio.sleep(0.05)
            assert await outbox_rows(own.session_factory) == 0

            queued = sorted(job.function for job in await queue.queued_jobs())
            assert queued == ["meters.update_customer", "wallets.drain"]  # once each
            await own.run_worker()
            status = by_meter(await billing(own.api, org.token, externalCustomerId="down"))
            assert Decimal(status["calls"]["consumed"]) == 3
    finally:
        if relay is not None:
            relay.cancel()
            await asyncio.gather(relay, return_exceptions=True)
        await queue.aclose()
        server.kill()


async def test_concurrent_relays_send_each_row_once(live, remembered):
    for n in range(60):  # 60 transactions' jobs waiting in the outbox
        async with live.session_factory() as session:
            enqueue_after_commit(session, "tests.remember", f"w{n}")
            await session.commit()
    counts = await asyncio.gather(
        *(relay_outbox(live.session_factory, live.redis, older_than=0, limit=7) for _ in range(4))
    )
    while (more := await relay_outbox(live.session_factory, live.redis, older_than=0, limit=7)) > 0:
        counts.append(more)
    assert sum(counts) == 60  # no row claimed by two relays
    assert len(await live.redis.queued_jobs()) == 60
    await live.run_worker()
    assert sorted(remembered) == sorted(f"w{n}" for n in range(60))


async def test_a_session_closed_without_commit_queues_nothing(live, remembered):
    session = live.session_factory()
    enqueue_after_commit(session, "tests.remember", "closed")
    await session.close()
    async with session:  # the same session, used again: the old request is gone
        enqueue_after_commit(session, "tests.remember", "reused")
        await jobs.commit(session, live.redis)
    await live.run_worker()
    assert remembered == ["reused"]


async def test_a_coalesced_job_already_committed_for_its_slot_writes_no_second_row(live, remembered, monkeypatch):
    """Twenty transactions asking for one entity's coalesced job in one slot write one outbox
    row (the first; the rest find its slot committed); a slot about to end, or the next slot,
    gets a row of its own; and the job runs once, after every one of those commits."""
    import time as real_time

    from app.kit.jobs import enqueue_coalesced_after_commit

    window = 2.0
    slot_end = (int(real_time.time() / window) + 1) * window
    if slot_end - real_time.time() < 1.0:  # too close to the slot's end for twenty commits
        await asyncio.sleep(slot_end - real_time.time() + 0.01)
    for _ in range(20):
        async with live.session_factory() as session:
            enqueue_coalesced_after_commit(session, "tests.remember", "busy", window=window)
            await jobs.commit(session, None)
    assert await outbox_rows(live.session_factory) == 1

    monkeypatch.setattr(jobs, "SLOT_MARGIN", window)  # as if the slot ended within the margin
    async with live.session_factory() as session:
        enqueue_coalesced_after_commit(session, "tests.remember", "busy", window=window)
        await jobs.commit(session, None)
    assert await outbox_rows(live.session_factory) == 2
    assert await relay_outbox(live.session_factory, live.redis, older_than=0) == 2
    assert len(await live.redis.queued_jobs()) == 1  # one job id: queued once
    await asyncio.sleep(max(0.0, slot_end - real_time.time()) + 0.05)
    await live.run_worker()
    assert remembered == ["busy"]


async def test_a_coalesced_job_waits_once_per_entity_whatever_the_slots(live):
    """While an entity's coalesced job is queued and has not started, a later slot's job for it
    is not queued (the waiting one starts after the commit that asked, and does the work of
    both); once it has started, the next slot's job is queued; other entities and plain jobs are
    not affected; a row written before rows recorded `coalesced` still decodes."""
    from datetime import datetime, timezone

    from arq.constants import in_progress_key_prefix

    from app.kit.jobs import JobRequest, decode_requests, enqueue

    def slot(entity: str, n: int) -> JobRequest:
        return JobRequest("tests.remember", ("org", entity), datetime(2030, 1, 1, tzinfo=timezone.utc), f"tests.remember:{entity}:{n}", coalesced=True)

    assert await enqueue(live.redis, [slot("a", 1), slot("b", 1)]) == 2
    assert await enqueue(live.redis, [slot("a", 2), slot("a", 3), slot("b", 2)]) == 0  # a:1 and b:1 still wait
    assert await enqueue(live.redis, [JobRequest("tests.remember", ("org", "a"), job_id="tests.remember:a:plain")]) == 1
    await live.redis.set(f"{in_progress_key_prefix}tests.remember:a:1", b"1")  # a worker started a:1
    assert await enqueue(live.redis, [slot("a", 4), slot("b", 4)]) == 1  # a:4 queued; b:1 still waits
    assert await enqueue(live.redis, [slot("a", 5)]) == 0  # now a:4 waits
    assert sorted(job.job_id for job in await live.redis.queued_jobs()) == [
        "tests.remember:a:1", "tests.remember:a:4", "tests.remember:a:plain", "tests.remember:b:1"
    ]
    assert decode_requests([["tests.remember", ["org", "a"], "x", None]]) == [JobRequest("tests.remember", ("org", "a"), None, "x")]


async def test_a_single_job_waits_until_it_has_begun_not_only_until_it_starts(live):
    """A job asked for with `enqueue_single_after_commit` stands for every later request while it
    is queued, and still once started, until it calls `begun` (it then holds its lock and has not
    read yet): only then is the next request queued. So jobs that wait for one lock do not pile
    up. An `ahead` job is scored just before the oldest queued; the request survives the
    outbox row (its sixth and seventh fields), and rows of five or six fields still decode."""
    import time
    import uuid

    from arq.constants import in_progress_key_prefix

    from app.kit.jobs import JobRequest, begun, decode_requests, enqueue, enqueue_single_after_commit, superseded
    from app.kit.tenancy import tenant_session
    from tests.orders.factories import merchant

    org = await make_org(live.session_factory)
    scope = merchant(org.id).scope

    async def ask(**kwargs) -> None:
        async with tenant_session(live.session_factory, scope) as session:
            enqueue_single_after_commit(session, "tests.single", **kwargs)
            await jobs.commit(session, live.redis)

    await enqueue(live.redis, [JobRequest("tests.other", (), job_id="tests.other:earlier")])
    await ask(ahead=True)
    await ask(ahead=True)  # the first waits: not queued
    [first] = [job for job in await live.redis.queued_jobs() if job.function == "tests.single"]
    [other] = [job for job in await live.redis.queued_jobs() if job.function == "tests.other"]
    assert first.score == other.score - 1  # ahead of the oldest, not earlier: the queue's lag is unchanged
    assert not await superseded(live.redis, "tests.single", org.id, first.job_id)  # the one waiting is itself
    await live.redis.set(f"{in_progress_key_prefix}{first.job_id}", b"1")  # a worker started it: it waits for its lock
    await ask(ahead=True)
    assert len([job for job in await live.redis.queued_jobs() if job.function == "tests.single"]) == 1  # still stands for it
    await begun(live.redis, "tests.single", org.id, "an older job's id")  # only its own id clears the mark
    await ask(ahead=True)
    assert len([job for job in await live.redis.queued_jobs() if job.function == "tests.single"]) == 1
    await begun(live.redis, "tests.single", org.id, first.job_id)  # it holds its lock
    assert not await superseded(live.redis, "tests.single", org.id, first.job_id)
    await ask(defer=30)
    queued = [job for job in await live.redis.queued_jobs() if job.function == "tests.single"]
    assert len(queued) == 2 and max(job.score for job in queued) > time.time() * 1000 + 20_000
    second = max(queued, key=lambda job: job.score)
    assert await superseded(live.redis, "tests.single", org.id, first.job_id)  # one waits: the first can stop
    await begun(live.redis, "tests.single", org.id, second.job_id)
    assert await superseded(live.redis, "tests.single", org.id, first.job_id)  # one began after it
    assert not await superseded(live.redis, "tests.single", org.id, second.job_id)
    assert decode_requests([["n", [], "x", None, True, True, True]]) == [JobRequest("n", (), None, "x", coalesced=True, single=True, ahead=True)]
    assert decode_requests([["n", [], "x", None, True, True]]) == [JobRequest("n", (), None, "x", coalesced=True, single=True)]
    assert decode_requests([["n", [], "x", None, True]]) == [JobRequest("n", (), None, "x", coalesced=True)]
    assert all(job.args == (str(org.id),) for job in queued) and uuid.UUID(queued[0].job_id.split(":")[1]) == org.id


async def test_a_job_with_slots_runs_at_most_that_many_at_once(live):
    """`job(..., slots=2)`: a worker runs at most two of it at once and leaves the others queued
    (in no job slot: another job queued after them starts at once); all of them run."""
    from app.kit.jobs import JobRequest, enqueue
    from workers.registry import REGISTRY, SLOTS, job
    from workers.settings import KassaWorker

    running, most, done, other_started_while = 0, 0, [], []

    @job("tests.slotted", slots=2)
    async def slotted(ctx, n):
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.1)
        running -= 1
        done.append(n)

    @job("tests.other")
    async def other(ctx):
        other_started_while.append(len(done))  # how many of the seven had finished

    try:
        await enqueue(live.redis, [JobRequest("tests.slotted", (n,), job_id=f"tests.slotted:{n}") for n in range(7)])
        await enqueue(live.redis, [JobRequest("tests.other", (), job_id="tests.other:after")])
        worker = KassaWorker(
            functions=[REGISTRY["tests.slotted"], REGISTRY["tests.other"]], redis_pool=live.redis, burst=True, handle_signals=False,
            poll_delay=0.01, keep_result=0, max_jobs=4, ctx={"session_factory": live.session_factory},
        )
        await worker.main()
    finally:
        for name in ("tests.slotted", "tests.other"):
            REGISTRY.pop(name)
            SLOTS.pop(name, None)
    assert most == 2 and sorted(done) == list(range(7))
    assert other_started_while and other_started_while[0] < 7  # it did not wait for the seven
