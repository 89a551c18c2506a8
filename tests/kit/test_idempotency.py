"""Idempotency keys (app/kit/idempotency.py), through the public surface: the `idempotencyKey` of
GraphQL mutations and the `Idempotency-Key` header of `POST /v1/events/ingest`."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import text

from app.auth.service import operator_scope
from app.kit import jobs
from app.kit.idempotency import IdempotencyKeyInUse, KeyedRequest, claim, record, request_hash
from tests.catalog.operations import CREATE_PRODUCT, FIXED
from tests.conftest import as_owner, count_rows, make_org
from tests.meters.helpers import GRANT, INGEST, condition, create_meter
from tests.operations import CREATE_CUSTOMER, UPDATE_CUSTOMER, create_customer

TTL = timedelta(hours=24)


async def create(api, token, key, **input):
    values = {"email": "ada@example.com", "idempotencyKey": key, **input}
    return (await api.gql(CREATE_CUSTOMER, {"input": values}, token=token))["data"]["createCustomer"]


async def grant(api, token, customer, meter, key, units="10"):
    values = {"customerId": customer["id"], "meterId": meter["id"], "units": units, "idempotencyKey": key}
    return (await api.gql(GRANT, {"input": values}, token=token))["data"]["grantMeterCredit"]


async def ingest(api, token, body, key=None):
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return await api.client.post("/v1/events/ingest", json=body, headers=headers)


async def expire_keys(session_factory):
    async with session_factory() as session, as_owner(session):
        await session.execute(text("UPDATE idempotency_keys SET expires_at = now() - interval '1 second'"))
        await session.commit()


# -- GraphQL ------------------------------------------------------------------------------------


async def test_the_same_key_and_input_act_once_and_replay_the_first_answer(api, org, session_factory):
    first = await create(api, org.token, "k-1", name="Ada")
    assert first["__typename"] == "CreateCustomerSuccess"
    again = await create(api, org.token, "k-1", name="Ada")
    assert again == first
    assert await count_rows(session_factory, "customers") == 1
    # The replay returns the object as it is now.
    await api.data(UPDATE_CUSTOMER, {"input": {"id": first["customer"]["id"], "name": "Ada L."}}, token=org.token)
    later = await create(api, org.token, "k-1", name="Ada")
    assert later["customer"]["id"] == first["customer"]["id"] and later["customer"]["name"] == "Ada L."
    assert await count_rows(session_factory, "customers") == 1


async def test_without_a_key_nothing_changes(api, org, session_factory):
    await create_customer(api, org.token, email="a@example.com")
    await create_customer(api, org.token, email="b@example.com")
    assert await count_rows(session_factory, "customers") == 2
    assert await count_rows(session_factory, "idempotency_keys") == 0


async def test_the_same_key_with_another_input_is_refused_and_changes_nothing(api, org, session_factory):
    await create(api, org.token, "k-2", name="Ada")
    other = await create(api, org.token, "k-2", name="Grace")
    assert other == {
        "__typename": "UnexpectedDomainError",
        "code": "IDEMPOTENCY_KEY_REUSED",
        "message": "This idempotency key was already used for this operation with a different input",
    }
    other_email = await create(api, org.token, "k-2", name="Ada", email="other@example.com")
    assert other_email["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await count_rows(session_factory, "customers") == 1


async def test_a_typed_error_is_stored_and_replayed(api, org):
    taken = await create_customer(api, org.token, email="first@example.com", externalId="ext-1")
    refused = await create(api, org.token, "k-3", externalId="ext-1")
    assert refused["__typename"] == "DuplicateExternalIdError"
    # The cause is gone, but the key answers as it did (Stripe's semantics); a new key acts.
    await api.data(
        "mutation($id: ID!) { deleteCustomer(input: {id: $id}) { __typename } }", {"id": taken["id"]}, token=org.token
    )
    assert await create(api, org.token, "k-3", externalId="ext-1") == refused
    assert (await create(api, org.token, "k-4", externalId="ext-1"))["__typename"] == "CreateCustomerSuccess"


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "line\nbreak"])
async def test_a_malformed_key_is_a_validation_error(api, org, session_factory, key):
    result = await create(api, org.token, key)
    assert result["__typename"] == "ValidationError"
    assert result["fields"] == [
        {"path": ["idempotencyKey"], "message": "must be 1 to 255 printable characters", "code": "invalid_idempotency_key"}
    ]
    assert await count_rows(session_factory, "customers") == 0


async def test_the_longest_key_is_accepted(api, org):
    key = "é" + "x" * 254
    first = await create(api, org.token, key)
    assert first["__typename"] == "CreateCustomerSuccess"
    assert await create(api, org.token, key) == first


async def test_keys_are_scoped_per_operation_and_organization(api, org, other_org, session_factory):
    await create(api, org.token, "shared")
    product = (await api.gql(CREATE_PRODUCT, {"input": {"name": "Plan", "prices": [FIXED], "idempotencyKey": "shared"}}, token=org.token))
    assert product["data"]["createProduct"]["__typename"] == "CreateProductSuccess"
    elsewhere = await create(api, other_org.token, "shared")
    assert elsewhere["__typename"] == "CreateCustomerSuccess"
    assert await count_rows(session_factory, "customers") == 2
    assert await count_rows(session_factory, "products") == 1
    assert await count_rows(session_factory, "idempotency_keys") == 3


async def test_an_expired_key_counts_as_absent_and_the_sweep_deletes_it(api, org, session_factory):
    values = {"name": "Plan", "prices": [FIXED], "idempotencyKey": "k-5"}
    first = (await api.data(CREATE_PRODUCT, {"input": values}, token=org.token))["createProduct"]
    assert (await api.data(CREATE_PRODUCT, {"input": values}, token=org.token))["createProduct"] == first
    await expire_keys(session_factory)
    second = (await api.data(CREATE_PRODUCT, {"input": values}, token=org.token))["createProduct"]
    assert second["__typename"] == "CreateProductSuccess" and second["product"]["id"] != first["product"]["id"]
    assert await count_rows(session_factory, "products") == 2
    # A different input is fine once the key has expired, too.
    await expire_keys(session_factory)
    third = (await api.data(CREATE_PRODUCT, {"input": {**values, "name": "Other"}}, token=org.token))["createProduct"]
    assert third["__typename"] == "CreateProductSuccess"

    from workers.idempotency import sweep

    await create(api, org.token, "k-6")  # not expired: kept
    await expire_keys(session_factory)
    await create(api, org.token, "k-7")
    assert await sweep({"session_factory": session_factory}) == 2
    async with session_factory() as session, as_owner(session):
        assert (await session.execute(text("SELECT key FROM idempotency_keys"))).scalars().all() == ["k-7"]


async def test_a_replay_of_an_object_deleted_since_is_not_found(api, org):
    first = await create(api, org.token, "k-8")
    await api.data("mutation($id: ID!) { deleteCustomer(input: {id: $id}) { __typename } }", {"id": first["customer"]["id"]}, token=org.token)
    again = await create(api, org.token, "k-8")
    assert again["__typename"] == "UnexpectedDomainError" and again["code"] == "NOT_FOUND"


async def test_a_crash_between_commit_and_answer_replays_on_retry(live, monkeypatch):
    org = await make_org(live.session_factory)
    real = jobs.commit
    crashes = []

    async def commit_then_crash(session, queue):
        await real(session, queue)
        if not crashes:
            crashes.append(True)
            raise RuntimeError("the process died after COMMIT")

    monkeypatch.setattr(jobs, "commit", commit_then_crash)
    values = {"email": "crash@example.com", "idempotencyKey": "k-crash"}
    lost = await live.api.gql(CREATE_CUSTOMER, {"input": values}, token=org.token)
    assert lost.get("errors") and crashes
    assert await count_rows(live.session_factory, "customers") == 1  # it was committed
    retry = (await live.api.data(CREATE_CUSTOMER, {"input": values}, token=org.token))["createCustomer"]
    assert retry["__typename"] == "CreateCustomerSuccess" and retry["customer"]["email"] == "crash@example.com"
    assert await count_rows(live.session_factory, "customers") == 1


async def test_concurrent_requests_with_one_key_act_once(live):
    """10 concurrent grants with one key, five times: one event each time; every answer is the
    first one (replayed) or IDEMPOTENCY_KEY_IN_USE."""
    org = await make_org(live.session_factory)
    api = live.api
    customer = await create_customer(api, org.token, email="c@example.com")
    meter = await create_meter(api, org.token, "calls", [condition("name", "eq", "call")])
    for round in range(5):
        answers = await asyncio.gather(*(grant(api, org.token, customer, meter, f"grant-{round}") for _ in range(10)))
        successes = [a for a in answers if a["__typename"] == "MeterEventSuccess"]
        assert successes and all(a == {"__typename": "MeterEventSuccess", "recorded": True} for a in successes), answers
        assert all(a["code"] == "IDEMPOTENCY_KEY_IN_USE" for a in answers if a not in successes), answers
        assert await count_rows(live.session_factory, "events") == round + 1
    answers = await asyncio.gather(*(create(api, org.token, "new-customer", email="n@example.com") for _ in range(10)))
    ids = {a["customer"]["id"] for a in answers if a["__typename"] == "CreateCustomerSuccess"}
    assert len(ids) == 1 and all(a["code"] == "IDEMPOTENCY_KEY_IN_USE" for a in answers if "customer" not in a), answers
    assert await count_rows(live.session_factory, "customers") == 2


async def test_a_key_held_by_a_running_transaction_waits_then_is_in_use(live):
    """The second claimant waits for the first; past its bound it is IN_USE; once the first
    commits, it replays the first answer."""
    org = await make_org(live.session_factory)
    scope = operator_scope(org.id)
    request = KeyedRequest("someOperation", "held", request_hash({"a": 1}))
    from app.kit.tenancy import tenant_session

    async with tenant_session(live.session_factory, scope) as holder, tenant_session(live.session_factory, scope) as waiter:
        assert await claim(holder, scope, request, ttl=TTL, wait_seconds=5) is None
        with pytest.raises(IdempotencyKeyInUse):
            await claim(waiter, scope, request, ttl=TTL, wait_seconds=0.2)
        await waiter.rollback()
        waiting = asyncio.ensure_future(claim(waiter, scope, request, ttl=TTL, wait_seconds=5))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        await record(holder, scope, request, {"answer": 42})
        await holder.commit()
        assert await waiting == {"answer": 42}
        # The bound applied to the claim only: the transaction's own setting is back.
        assert await waiter.scalar(text("SELECT current_setting('lock_timeout')")) == "0"


async def test_ingest_events_with_a_key_stores_the_batch_once(api, org, session_factory):
    values = {"events": [{"name": "call", "externalCustomerId": "x"}], "idempotencyKey": "gql-batch"}
    first = (await api.data(INGEST, {"input": values}, token=org.token))["ingestEvents"]
    assert first == {"__typename": "IngestEventsSuccess", "inserted": 1, "duplicates": 0}
    assert (await api.data(INGEST, {"input": values}, token=org.token))["ingestEvents"] == first
    assert await count_rows(session_factory, "events") == 1


# -- REST ---------------------------------------------------------------------------------------


async def test_rest_ingest_with_the_header_acts_once(api, org, session_factory):
    body = {"events": [{"name": "call", "external_customer_id": "x"}, {"name": "call", "external_customer_id": "x"}]}
    first = await ingest(api, org.token, body, key="batch-1")
    assert (first.status_code, first.json()) == (200, {"inserted": 2, "duplicates": 0})
    again = await ingest(api, org.token, body, key="batch-1")
    assert (again.status_code, again.json()) == (200, {"inserted": 2, "duplicates": 0})
    assert await count_rows(session_factory, "events") == 2
    other = await ingest(api, org.token, {"events": body["events"][:1]}, key="batch-1")
    assert other.status_code == 422 and other.json()["error"] == "IDEMPOTENCY_KEY_REUSED"
    assert await count_rows(session_factory, "events") == 2
    without = await ingest(api, org.token, body)
    assert without.status_code == 200 and await count_rows(session_factory, "events") == 4


async def test_rest_ingest_replays_a_refused_batch_and_checks_the_header(api, org, session_factory):
    bad = {"events": [{"name": "call"}]}  # no customer
    first = await ingest(api, org.token, bad, key="batch-2")
    assert first.status_code == 422
    again = await ingest(api, org.token, bad, key="batch-2")
    assert (again.status_code, again.json()) == (422, first.json())
    malformed = await ingest(api, org.token, {"events": [{"name": "call", "external_customer_id": "x"}]}, key="x" * 256)
    assert malformed.status_code == 422
    assert malformed.json()["detail"] == [
        {"loc": ["header", "Idempotency-Key"], "msg": "must be 1 to 255 printable characters", "type": "invalid_idempotency_key"}
    ]
    assert await count_rows(session_factory, "events") == 0


async def test_concurrent_rest_requests_with_one_key_act_once(live):
    org = await make_org(live.session_factory)
    body = {"events": [{"name": "call", "external_customer_id": "x"}]}
    for round in range(3):
        answers = await asyncio.gather(*(ingest(live.api, org.token, body, key=f"rest-{round}") for _ in range(10)))
        statuses = sorted({a.status_code for a in answers})
        assert set(statuses) <= {200, 409}, [a.json() for a in answers]
        assert all(a.json() == {"inserted": 1, "duplicates": 0} for a in answers if a.status_code == 200)
        assert all(a.json()["error"] == "IDEMPOTENCY_KEY_IN_USE" for a in answers if a.status_code == 409)
        assert await count_rows(live.session_factory, "events") == round + 1


def test_the_request_hash_is_canonical():
    assert request_hash({"b": 1, "a": [1, "x"]}) == request_hash({"a": [1, "x"], "b": 1})
    assert request_hash({"a": 1}) != request_hash({"a": 2})
    assert len(request_hash({})) == 64
