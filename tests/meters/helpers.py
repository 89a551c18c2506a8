"""Operations the meter tests share."""

from __future__ import annotations

from typing import Any

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
