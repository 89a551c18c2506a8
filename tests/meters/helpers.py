"""Operations the meter tests share."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text

CREATE_METER = """
mutation($input: CreateMeterInput!) {
  createMeter(input: $input) {
    __typename
    ... on MeterSuccess { meter { id name aggregation { func property } } }
    ... on ValidationError { fields { path message code } }
  }
}
"""

INGEST = """
mutation($input: IngestEventsInput!) {
  ingestEvents(input: $input) {
    __typename
    ... on IngestEventsSuccess { inserted duplicates }
    ... on ValidationError { fields { path message code } }
  }
}
"""

BILLING = """
query($customerId: ID, $externalCustomerId: String, $memberId: ID) {
  billingStatus(customerId: $customerId, externalCustomerId: $externalCustomerId, memberId: $memberId) {
    status
    meters { meter { id name } consumed credited balance remaining percentUsed status hasQuota memberConsumed }
  }
}
"""

GRANT = """
mutation($input: GrantMeterCreditInput!) {
  grantMeterCredit(input: $input) { __typename ... on MeterEventSuccess { recorded } ... on Error { code message } }
}
"""


def condition(prop: str, operator: str, value: Any) -> dict:
    return {"condition": {"property": prop, "operator": operator.upper(), "value": value}}


def meter_input(name: str, clauses: list[dict], func: str = "COUNT", prop: str | None = None, conjunction: str = "AND") -> dict:
    return {"name": name, "filter": {"conjunction": conjunction, "clauses": clauses}, "aggregation": {"func": func, "property": prop}}


async def create_meter(api, token: str, name: str, clauses: list[dict], func: str = "COUNT", prop: str | None = None) -> dict:
    result = (await api.data(CREATE_METER, {"input": meter_input(name, clauses, func, prop)}, token=token))["createMeter"]
    assert result["__typename"] == "MeterSuccess", result
    return result["meter"]


async def ingest_rest(api, token: str, events: list[dict]):
    return await api.client.post("/v1/events/ingest", json={"events": events}, headers={"Authorization": f"Bearer {token}"})


async def billing(api, token: str, **variables) -> dict:
    return (await api.data(BILLING, variables, token=token))["billingStatus"]


def by_meter(status: dict) -> dict[str, dict]:
    return {m["meter"]["name"]: m for m in status["meters"]}


async def settle_xmin(session_factory) -> None:
    """Wait until every transaction committed so far is below the server's snapshot xmin (what a
    meter job's or a renewal's watermark needs to count its events). Not business time:
    transactions of other databases on the same server (other test runs) hold the xmin back for
    a moment."""
    async with session_factory() as session:
        mine = await session.scalar(text("SELECT pg_current_xact_id()::text::bigint"))
        await session.commit()
    for _ in range(12_000):
        async with session_factory() as session:
            if await session.scalar(text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")) > mine:
                return
        await asyncio.sleep(0.005)
    raise AssertionError("a transaction of the server stayed open for a minute")
