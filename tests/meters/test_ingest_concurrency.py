"""Overlapping batches sent at the same time all land: no deadlock, no 500, every event once."""

from __future__ import annotations

import asyncio
import random

from sqlalchemy import text

from tests.conftest import as_owner, make_org
from tests.meters.helpers import ingest_rest
from tests.operations import create_customer


def _event(external_id: str, customer: str) -> dict:
    return {"name": "api_call", "external_customer_id": customer, "external_id": external_id, "metadata": {"n": 1}}


async def _event_rows(live, organization_id) -> tuple[int, int]:
    async with live.session_factory() as session, as_owner(session):
        row = (
            await session.execute(
                text("SELECT count(*), count(DISTINCT external_id) FROM events WHERE organization_id = :org"), {"org": organization_id}
            )
        ).one()
    return int(row[0]), int(row[1])


async def test_opposite_orders_do_not_deadlock(live):
    """Two batches of the same 200 external ids in opposite orders, sent together, twenty times."""
    org = await make_org(live.session_factory)
    await create_customer(live.api, org.token, externalId="c1")
    for trial in range(20):
        ids = [f"t{trial}-e{i}" for i in range(200)]
        forward = [_event(i, "c1") for i in ids]
        backward = list(reversed(forward))
        responses = await asyncio.gather(ingest_rest(live.api, org.token, forward), ingest_rest(live.api, org.token, backward))
        assert [r.status_code for r in responses] == [200, 200], [r.text[:300] for r in responses]
        bodies = [r.json() for r in responses]
        assert sum(b["inserted"] for b in bodies) == 200, bodies
        assert sum(b["duplicates"] for b in bodies) == 200, bodies
    assert await _event_rows(live, org.id) == (4000, 4000)


async def test_sixteen_clients_with_overlapping_batches(live):
    """16 clients each send batches of 400 drawn from one pool of ids: every batch lands, and the
    inserted counts add up to the distinct ids stored."""
    org = await make_org(live.session_factory)
    for customer in ("c1", "c2", "c3"):
        await create_customer(live.api, org.token, externalId=customer, email=f"{customer}@example.com")
    pool = [f"e{i}" for i in range(1200)]
    rng = random.Random(7)
    batches = []
    for _ in range(48):
        chosen = rng.sample(pool, 400)
        batches.append([_event(i, rng.choice(("c1", "c2", "c3", "later"))) for i in chosen])
    sent = sum(len(b) for b in batches)
    queue: asyncio.Queue = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)
    results: list = []

    async def client() -> None:
        while not queue.empty():
            batch = queue.get_nowait()
            response = await ingest_rest(live.api, org.token, batch)
            results.append((response.status_code, response.json() if response.status_code == 200 else response.text[:300]))

    await asyncio.gather(*(client() for _ in range(16)))
    failures = [r for r in results if r[0] != 200]
    assert not failures, failures[:3]
    inserted = sum(r[1]["inserted"] for r in results)
    duplicates = sum(r[1]["duplicates"] for r in results)
    rows, distinct = await _event_rows(live, org.id)
    assert inserted + duplicates == sent
    assert rows == distinct == inserted
    assert distinct == len({e["external_id"] for b in batches for e in b})
