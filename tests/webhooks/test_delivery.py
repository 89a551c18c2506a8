"""Outbound webhooks end to end: outbox, worker, signed delivery to a real HTTP receiver."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
import pytest
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.auth.service import operator_scope
from app.models import JobFailure, WebhookDelivery, WebhookEvent
from tests.operations import CREATE_CUSTOMER, create_business, create_customer
from tests.webhooks.receiver import Receiver
from tests.conftest import as_owner

ALL_TYPES = ["CUSTOMER_CREATED", "CUSTOMER_UPDATED", "CUSTOMER_DELETED", "MEMBER_CREATED", "MEMBER_UPDATED", "MEMBER_DELETED"]

CREATE_ENDPOINT = """
mutation($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) {
    __typename
    ... on CreateWebhookEndpointSuccess { secret endpoint { id url enabled eventTypes } }
    ... on ValidationError { fields { path message code } }
  }
}
"""

EVENTS = """
query($first: Int!, $type: WebhookEventType) {
  webhookEvents(first: $first, type: $type) {
    edges { node { id webhookId type payload
      deliveries { id status attemptCount endpoint { id }
        attempts { attemptedAt succeeded statusCode durationMs responseExcerpt error } } } }
  }
}
"""

ENDPOINT = """
query($id: ID!) { node(id: $id) { ... on WebhookEndpoint { id enabled consecutiveFailures disabledAt disabledReason } } }
"""


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


async def make_endpoint(live, token: str, url: str, types: list[str] | None = None) -> dict:
    result = (await live.api.data(CREATE_ENDPOINT, {"input": {"url": url, "eventTypes": types or ALL_TYPES}}, token=token))[
        "createWebhookEndpoint"
    ]
    assert result["__typename"] == "CreateWebhookEndpointSuccess", result
    return result


def verify(secret: str, received) -> dict:
    """Verify exactly as a merchant would, with the standardwebhooks package."""
    return Webhook(secret).verify(received.body, received.headers)


async def test_signed_delivery_of_customer_created(live, receiver):
    from tests.conftest import make_org

    org = await make_org(live.session_factory)
    endpoint = await make_endpoint(live, org.token, receiver.url, ["CUSTOMER_CREATED"])
    customer = await create_customer(live.api, org.token, email="hook@example.com", externalId="h1", metadata={"a": 1})
    await live.run_worker()

    assert len(receiver.requests) == 1
    payload = verify(endpoint["secret"], receiver.requests[0])
    assert payload["type"] == "customer.created"
    assert payload["timestamp"]
    data = payload["data"]
    # data is the customer as the API shows it
    for field in ("id", "type", "email", "externalId", "name", "billingName", "taxId", "metadata", "createdAt"):
        assert data[field] == customer[field], field
    # a tampered body or another secret does not verify
    tampered = type(receiver.requests[0])(receiver.requests[0].headers, receiver.requests[0].body.replace(b"hook", b"hack"), 0)
    with pytest.raises(WebhookVerificationError):
        verify(endpoint["secret"], tampered)
    other_secret = "whsec_" + base64.b64encode(b"another secret of 24 bytes").decode()
    with pytest.raises(WebhookVerificationError):
        verify(other_secret, receiver.requests[0])


async def test_only_subscribed_types_are_sent(live, receiver):
    from tests.conftest import make_org

    org = await make_org(live.session_factory)
    await make_endpoint(live, org.token, receiver.url, ["MEMBER_CREATED"])
    await create_business(live.api, org.token, members=2)
    await live.run_worker()
    types = [json.loads(r.body)["type"] for r in receiver.requests]
    assert types == ["member.created"] * 3


async def test_fails_twice_then_succeeds_three_attempts_same_id(live, receiver):
    from tests.conftest import make_org

    org = await make_org(live.session_factory)
    receiver.statuses = [500, 503]
    receiver.delay = 0.05  # each answer takes at least 50 ms: the recorded durations show it
    endpoint = await make_endpoint(live, org.token, receiver.url, ["CUSTOMER_CREATED"])
    await create_customer(live.api, org.token)
    await live.run_worker()

    assert len(receiver.requests) == 3
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert len(ids) == 1
    for request in receiver.requests:
        verify(endpoint["secret"], request)
    events = (await live.api.data(EVENTS, {"first": 10, "type": "CUSTOMER_CREATED"}, token=org.token))["webhookEvents"]["edges"]
    assert len(events) == 1
    event = events[0]["node"]
    assert event["webhookId"] == ids.pop()
    [delivery] = event["deliveries"]
    assert delivery["status"] == "SUCCEEDED"
    assert delivery["attemptCount"] == 3
    attempts = delivery["attempts"]
    assert [a["statusCode"] for a in attempts] == [500, 503, 200]
    assert [a["succeeded"] for a in attempts] == [False, False, True]
    assert attempts[0]["responseExcerpt"] == "receiver says no"
    assert all(50 <= a["durationMs"] < 2000 for a in attempts), [a["durationMs"] for a in attempts]


async def test_dead_receiver_disables_endpoint_at_threshold(live):
    from tests.conftest import make_org

    dead = Receiver(default_status=500)
    try:
        org = await make_org(live.session_factory)
        endpoint = await make_endpoint(live, org.token, dead.url, ["CUSTOMER_CREATED"])
        for i in range(3):
            await create_customer(live.api, org.token, email=f"d{i}@example.com")
        await live.run_worker(webhook_retry_schedule=(0.01,), webhook_failure_threshold=2)
        # two events failed both tries in a row: disabled; the third was never sent
        assert len(dead.requests) == 4
        state = (await live.api.data(ENDPOINT, {"id": endpoint["endpoint"]["id"]}, token=org.token))["node"]
        assert state["enabled"] is False
        assert state["consecutiveFailures"] == 2
        assert state["disabledAt"] is not None
        assert "2 events in a row" in state["disabledReason"]
        # a new event is not even queued for a disabled endpoint
        await create_customer(live.api, org.token, email="late@example.com")
        async with live.session_factory() as session, as_owner(session):
            statuses = (await session.scalars(select(WebhookDelivery.status).order_by(WebhookDelivery.sequence))).all()
        assert statuses == ["failed", "failed", "pending"]
    finally:
        dead.close()


async def test_enabling_again_sends_what_waited(live):
    from tests.conftest import make_org

    flaky = Receiver(default_status=500)
    try:
        org = await make_org(live.session_factory)
        endpoint = await make_endpoint(live, org.token, flaky.url, ["CUSTOMER_CREATED"])
        for i in range(2):
            await create_customer(live.api, org.token, email=f"w{i}@example.com")
        await live.run_worker(webhook_retry_schedule=(), webhook_failure_threshold=1)
        assert len(flaky.requests) == 1  # the first failed once and disabled the endpoint
        flaky.default_status = 200
        enable = await live.api.data(
            "mutation($id: ID!) { updateWebhookEndpoint(input: {id: $id, enabled: true}) { __typename } }",
            {"id": endpoint["endpoint"]["id"]},
            token=org.token,
        )
        assert enable["updateWebhookEndpoint"]["__typename"] == "UpdateWebhookEndpointSuccess"
        await live.run_worker()
        assert len(flaky.requests) == 2
        assert json.loads(flaky.requests[1].body)["data"]["email"] == "w1@example.com"
    finally:
        flaky.close()


async def test_events_arrive_in_order_per_endpoint(live, receiver):
    from tests.conftest import make_org

    org = await make_org(live.session_factory)
    receiver.statuses = [500]  # the first event needs a retry; the others must wait for it
    await make_endpoint(live, org.token, receiver.url, ["CUSTOMER_CREATED"])
    emails = [f"o{i}@example.com" for i in range(5)]
    for email in emails:
        await create_customer(live.api, org.token, email=email)
    await live.run_worker()
    got = [json.loads(r.body)["data"]["email"] for r in receiver.requests]
    assert got == [emails[0]] + emails


async def test_rolled_back_mutation_delivers_nothing(live, receiver, monkeypatch):
    from app.webhooks import payloads
    from tests.conftest import make_org

    org = await make_org(live.session_factory)
    await make_endpoint(live, org.token, receiver.url)

    # a typed error rolls back
    await create_customer(live.api, org.token, externalId="taken")
    await live.run_worker()
    receiver.requests.clear()
    result = (await live.api.data(CREATE_CUSTOMER, {"input": {"email": "x@example.com", "externalId": "taken"}}, token=org.token))[
        "createCustomer"
    ]
    assert result["__typename"] == "DuplicateExternalIdError"

    # an unexpected failure after some events were written rolls them back too
    calls = {"n": 0}
    real = payloads.member_data

    def failing_member_data(member):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("boom")
        return real(member)

    monkeypatch.setattr("app.customers.service.member_data", failing_member_data)
    body = await live.api.gql(
        CREATE_CUSTOMER,
        {"input": {"type": "BUSINESS", "email": "b@example.com", "owner": {"email": "o@example.com"}, "members": [{"email": "m@example.com"}]}},
        token=org.token,
    )
    assert body["errors"][0]["message"] == "Unexpected error."
    assert calls["n"] == 2
    monkeypatch.undo()

    assert await live.redis.queued_jobs() == []
    await live.run_worker()
    assert receiver.requests == []
    async with live.session_factory() as session, as_owner(session):
        events = await session.scalar(select(func.count()).select_from(WebhookEvent))
    assert events == 2  # customer.created and member.created of the first, successful customer


async def test_jobs_are_enqueued_only_after_commit(live):
    from tests.conftest import make_org

    org = await make_org(live.session_factory)
    await make_endpoint(live, org.token, "http://127.0.0.1:9/hooks", ["CUSTOMER_CREATED"])
    assert await live.redis.queued_jobs() == []
    await create_customer(live.api, org.token)
    queued = await live.redis.queued_jobs()
    assert [job.function for job in queued] == ["webhooks.deliver"]
    async with live.session_factory() as session, as_owner(session):  # the job's data was committed before it was queued
        assert await session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1


async def test_delivery_job_run_twice_delivers_once(live, receiver):
    from workers.webhook_delivery import deliver_endpoint
    from tests.conftest import make_org

    org = await make_org(live.session_factory)
    endpoint = await make_endpoint(live, org.token, receiver.url, ["CUSTOMER_CREATED"])
    await create_customer(live.api, org.token)
    await live.redis.flushdb()  # run the job by hand instead
    from app.kit.ids import from_global_id

    _, endpoint_id = from_global_id(endpoint["endpoint"]["id"])
    settings = live.worker_settings()
    async with httpx.AsyncClient() as client:
        # twice at once: one takes the lock, the other steps aside
        first, second = await asyncio.gather(
            deliver_endpoint(live.session_factory, operator_scope(org.id), endpoint_id, client=client, settings=settings, queue=live.redis),
            deliver_endpoint(live.session_factory, operator_scope(org.id), endpoint_id, client=client, settings=settings, queue=live.redis),
        )
        # and once more afterwards: nothing left to send
        third = await deliver_endpoint(live.session_factory, operator_scope(org.id), endpoint_id, client=client, settings=settings, queue=live.redis)
    assert first.sent + second.sent + third.sent == 1
    assert len(receiver.requests) == 1


async def test_redeliver_sends_the_same_webhook_id_again(live, receiver):
    from tests.conftest import make_org

    org = await make_org(live.session_factory)
    endpoint = await make_endpoint(live, org.token, receiver.url, ["CUSTOMER_CREATED"])
    await create_customer(live.api, org.token)
    await live.run_worker()
    event = (await live.api.data(EVENTS, {"first": 1, "type": "CUSTOMER_CREATED"}, token=org.token))["webhookEvents"]["edges"][0]["node"]
    result = await live.api.data(
        "mutation($e: ID!, $p: ID!) { redeliverWebhookEvent(input: {eventId: $e, endpointId: $p}) { __typename ... on RedeliverWebhookEventSuccess { delivery { status } } } }",
        {"e": event["id"], "p": endpoint["endpoint"]["id"]},
        token=org.token,
    )
    assert result["redeliverWebhookEvent"]["delivery"]["status"] == "PENDING"
    await live.run_worker()
    assert len(receiver.requests) == 2
    assert receiver.requests[0].headers["webhook-id"] == receiver.requests[1].headers["webhook-id"] == event["webhookId"]
    assert verify(endpoint["secret"], receiver.requests[1])["type"] == "customer.created"


async def test_a_job_that_keeps_failing_is_recorded(live):
    from workers.registry import REGISTRY, job

    @job("tests.explode")
    async def explode(ctx, thing_id):
        raise RuntimeError(f"cannot handle {thing_id}")

    try:
        await live.redis.enqueue_job("tests.explode", "abc")
        worker = await live.run_worker()
        async with live.session_factory() as session, as_owner(session):
            failures = (await session.scalars(select(JobFailure))).all()
        assert len(failures) == 1
        assert failures[0].job_name == "tests.explode"
        assert failures[0].args == ["abc"]
        assert failures[0].tries == live.settings.worker_max_tries
        assert "cannot handle abc" in failures[0].error
        assert worker.jobs_retried == live.settings.worker_max_tries - 1
    finally:
        REGISTRY.pop("tests.explode")


async def test_a_retry_is_due_only_when_the_clock_passes_it(live, receiver, clock):
    """The retry time is business time: the delivery waits for the clock, not for the real time
    (a frozen clock holds it back however long the test runs), and the retry job waits on arq's
    real-time queue exactly as long as the clock has to move."""
    import time
    from datetime import timedelta

    from app.kit.ids import from_global_id
    from app.models import WebhookDeliveryAttempt
    from tests.conftest import FROZEN_AT, make_org
    from workers.webhook_delivery import deliver_endpoint, sweep

    org = await make_org(live.session_factory)
    receiver.statuses = [500]
    endpoint = await make_endpoint(live, org.token, receiver.url, ["CUSTOMER_CREATED"])
    await create_customer(live.api, org.token)
    await live.redis.flushdb()  # run the deliveries by hand
    _, endpoint_id = from_global_id(endpoint["endpoint"]["id"])
    settings = live.worker_settings(webhook_retry_schedule=(600,))

    async with httpx.AsyncClient() as client:

        async def run():
            return await deliver_endpoint(live.session_factory, operator_scope(org.id), endpoint_id, client=client, settings=settings, queue=live.redis)

        first = await run()
        assert (first.sent, first.succeeded) == (1, 0)
        retry_at = first.retry_at
        assert FROZEN_AT + timedelta(seconds=480) <= retry_at <= FROZEN_AT + timedelta(seconds=720)  # 600 s +/- 20 %
        [job] = await live.redis.queued_jobs()
        wait = (retry_at - FROZEN_AT).total_seconds()
        assert abs(job.score / 1000 - (time.time() + wait)) < 30, (job.score, wait)
        await live.redis.flushdb()

        assert (await run()).sent == 0  # real time goes on; the clock does not
        assert await sweep(live.session_factory, live.redis) == 0
        clock.set(retry_at - timedelta(seconds=1))
        assert (await run()).sent == 0
        assert await sweep(live.session_factory, live.redis) == 0
        clock.set(retry_at)
        assert await sweep(live.session_factory, live.redis) == 1
        second = await run()
        assert (second.sent, second.succeeded) == (1, 1)

    assert len(receiver.requests) == 2
    verify(endpoint["secret"], receiver.requests[1])  # the signature's timestamp is real time: it verifies
    async with live.session_factory() as session, as_owner(session):
        attempted = (await session.scalars(select(WebhookDeliveryAttempt.attempted_at).order_by(WebhookDeliveryAttempt.attempted_at))).all()
    assert attempted == [FROZEN_AT, retry_at]
