"""Bad input at both ingestion doors: typed errors naming every bad event, nothing written."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import count_rows, make_org
from tests.meters.helpers import INGEST, ingest_rest
from tests.operations import create_business, create_customer


def good(i: int = 0, **extra) -> dict:
    event = {"name": "api_call", "external_customer_id": "c1", "external_id": f"ok-{i}", "metadata": {"tokens": 1}}
    event.update(extra)
    return event


BAD_EVENTS = [
    ({"external_customer_id": "c1"}, ["body", "events", 1, "name"]),
    (good(name=""), ["body", "events", 1, "name"]),
    (good(name="x" * 257), ["body", "events", 1, "name"]),
    (good(name="kassa.meter_credit"), ["body", "events", 1, "name"]),
    (good(timestamp="yesterday"), ["body", "events", 1, "timestamp"]),
    (good(timestamp=(datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()), ["body", "events", 1, "timestamp"]),
    ({"name": "api_call"}, ["body", "events", 1]),
    (good(customer_id="0b8f0b8f-0b8f-4b8f-8b8f-0b8f0b8f0b8f"), ["body", "events", 1]),
    (good(external_customer_id=None, customer_id="not-an-id"), ["body", "events", 1, "customer_id"]),
    (good(external_customer_id=None, customer_id="0b8f0b8f-0b8f-4b8f-8b8f-0b8f0b8f0b8f"), ["body", "events", 1, "customer_id"]),
    (good(metadata={f"k{i}": i for i in range(51)}), ["body", "events", 1, "metadata"]),
    (good(metadata={"note": "x" * 501}), ["body", "events", 1, "metadata", "note"]),
    (good(metadata={"nested": {"a": 1}}), ["body", "events", 1, "metadata", "nested"]),
    (good(metadata="text"), ["body", "events", 1, "metadata"]),
    (good(external_id="x" * 257), ["body", "events", 1, "external_id"]),
    (good(member_id="m", external_member_id="n"), ["body", "events", 1]),
    ("not an object", ["body", "events", 1]),
]


@pytest.mark.parametrize("bad, loc", BAD_EVENTS)
async def test_rest_refuses_a_partly_bad_batch(api, org, session_factory, bad, loc):
    await create_customer(api, org.token, email="c1@example.com", externalId="c1")
    response = await ingest_rest(api, org.token, [good(0), bad, good(2)])
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "VALIDATION_ERROR"
    assert {tuple(d["loc"][:len(loc)]) for d in body["detail"]} == {tuple(loc)}, body
    assert await count_rows(session_factory, "events") == 0


async def test_every_bad_event_is_named(api, org, session_factory):
    await create_customer(api, org.token, email="c1@example.com", externalId="c1")
    response = await ingest_rest(api, org.token, [good(0), {"name": ""}, good(2), good(3, timestamp="nope"), good(4)])
    indexes = sorted({d["loc"][2] for d in response.json()["detail"]})
    assert indexes == [1, 3]
    assert await count_rows(session_factory, "events") == 0


async def test_batch_size_limit(api, org, session_factory):
    response = await ingest_rest(api, org.token, [good(i) for i in range(1001)])
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "too_many"
    ok = await ingest_rest(api, org.token, [good(i) for i in range(1000)])
    assert ok.json() == {"inserted": 1000, "duplicates": 0}


async def test_rest_request_errors(api, org):
    not_json = await api.client.post("/v1/events/ingest", content=b"{nope", headers={"Authorization": f"Bearer {org.token}"})
    assert not_json.status_code == 400
    missing = await api.client.post("/v1/events/ingest", json={"nope": []}, headers={"Authorization": f"Bearer {org.token}"})
    assert missing.status_code == 422
    anonymous = await api.client.post("/v1/events/ingest", json={"events": [good()]})
    assert anonymous.status_code == 401
    bad_token = await api.client.post("/v1/events/ingest", json={"events": [good()]}, headers={"Authorization": "Bearer kassa_oat_x"})
    assert bad_token.status_code == 401


async def test_scope_is_needed(api, session_factory):
    reader = await make_org(session_factory, name="Reader", scopes=["events:read"])
    response = await ingest_rest(api, reader.token, [good()])
    assert response.status_code == 403
    body = await api.gql(INGEST, {"input": {"events": [{"name": "x", "externalCustomerId": "c"}]}}, token=reader.token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_graphql_names_every_bad_event(api, org, session_factory):
    await create_customer(api, org.token, email="c1@example.com", externalId="c1")
    events = [
        {"name": "api_call", "externalCustomerId": "c1"},
        {"name": "", "externalCustomerId": "c1"},
        {"name": "api_call"},
        {"name": "api_call", "externalCustomerId": "c1", "metadata": {"a": {"b": 1}}},
        {"name": "api_call", "externalCustomerId": "c1", "timestamp": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()},
    ]
    result = (await api.data(INGEST, {"input": {"events": events}}, token=org.token))["ingestEvents"]
    assert result["__typename"] == "ValidationError"
    assert sorted({tuple(f["path"][:2]) for f in result["fields"]}) == [("events", "1"), ("events", "2"), ("events", "3"), ("events", "4")]
    # a value of the wrong GraphQL type is refused by the schema itself
    typed = await api.gql(INGEST, {"input": {"events": [{"name": 5, "externalCustomerId": "c1"}, {"name": "x", "timestamp": "nope"}]}}, token=org.token)
    assert typed["data"] is None
    assert typed["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert await count_rows(session_factory, "events") == 0


async def test_duplicates_are_counted_not_stored(api, org, session_factory):
    first = await ingest_rest(api, org.token, [good(1), good(2), good(1)])
    assert first.json() == {"inserted": 2, "duplicates": 1}
    again = await api.data(
        INGEST, {"input": {"events": [{"name": "api_call", "externalCustomerId": "c1", "externalId": "ok-2"}, {"name": "x", "externalCustomerId": "c1"}]}}, token=org.token
    )
    assert again["ingestEvents"] == {"__typename": "IngestEventsSuccess", "inserted": 1, "duplicates": 1}
    assert await count_rows(session_factory, "events") == 3


async def test_member_must_belong_to_the_customer(api, org, session_factory):
    one = await create_business(api, org.token, prefix="one", members=1)
    two = await create_business(api, org.token, prefix="two", members=1)
    stranger = next(m for m in two["members"] if m["role"] == "MEMBER")
    result = (
        await api.data(INGEST, {"input": {"events": [{"name": "x", "customerId": one["id"], "memberId": stranger["id"]}]}}, token=org.token)
    )["ingestEvents"]
    assert result["__typename"] == "ValidationError"
    assert result["fields"][0]["code"] == "member_not_in_customer"
    assert await count_rows(session_factory, "events") == 0


async def test_events_are_isolated_per_organization(api, org, other_org, session_factory):
    mine = await create_customer(api, org.token, email="mine@example.com", externalId="shared")
    await create_customer(api, other_org.token, email="theirs@example.com", externalId="shared")
    # another organization cannot send events to my customer by id
    response = await ingest_rest(api, other_org.token, [{"name": "x", "customer_id": mine["id"]}])
    assert response.status_code == 422
    # by external id, its event goes to its own customer
    ok = await ingest_rest(api, other_org.token, [{"name": "x", "external_customer_id": "shared"}])
    assert ok.json()["inserted"] == 1
    listed = await api.data("{ events(first: 10) { edges { node { id customerId } } } }", token=org.token)
    assert listed["events"]["edges"] == []
    theirs = await api.data("{ events(first: 10) { edges { node { id customerId } } } }", token=other_org.token)
    assert len(theirs["events"]["edges"]) == 1
    assert theirs["events"]["edges"][0]["node"]["customerId"] != mine["id"]


async def test_indexes_stay_right_after_a_non_object_event(api, org):
    response = await ingest_rest(api, org.token, ["x", {"name": "y", "customer_id": "0b8f0b8f-0b8f-4b8f-8b8f-0b8f0b8f0b8f"}])
    detail = response.json()["detail"]
    assert [(d["loc"][2], d["type"]) for d in detail] == [(0, "invalid_type"), (1, "unknown_customer")]


async def test_timestamps_default_to_and_are_checked_against_the_clock(api, org, session_factory, clock):
    await create_customer(api, org.token, email="c1@example.com", externalId="c1")
    soon = clock.now() + timedelta(minutes=10)
    early = await ingest_rest(api, org.token, [good(0), good(1, timestamp=soon.isoformat())])
    assert early.status_code == 422, early.text
    assert [d["loc"] for d in early.json()["detail"]] == [["body", "events", 1, "timestamp"]]
    assert await count_rows(session_factory, "events") == 0
    clock.advance(timedelta(minutes=6))  # now it is less than 5 minutes ahead
    response = await ingest_rest(api, org.token, [good(0), good(1, timestamp=soon.isoformat())])
    assert response.json() == {"inserted": 2, "duplicates": 0}
    listed = await api.data("{ events(first: 10) { edges { node { timestamp } } } }", token=org.token)
    stamps = [datetime.fromisoformat(e["node"]["timestamp"].replace("Z", "+00:00")) for e in listed["events"]["edges"]]
    assert stamps == [soon, clock.now()]  # newest first; the event without a timestamp got the clock's time
