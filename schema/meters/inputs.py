"""GraphQL inputs of meters."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.scalars import JSON

from schema.kit.idempotency import idempotency_key_field
from schema.meters.types import AggregationFunction, FilterConjunction, FilterOperator


@strawberry.input(description="A condition on one property of an event.")
class MeterConditionInput:
    property: str = strawberry.field(description="`name` (the event name) or a metadata key (`metadata.KEY` or `KEY`).")
    operator: FilterOperator = strawberry.field(description="The comparison.")
    value: JSON = strawberry.field(description="A string, number or boolean (numbers for GT/GTE/LT/LTE, strings for LIKE/NOT_LIKE).")


@strawberry.input(one_of=True, description="A clause: a condition or a nested filter (give exactly one).")
class MeterFilterClauseInput:
    condition: MeterConditionInput | None = strawberry.field(default=strawberry.UNSET, description="A condition.")
    filter: "MeterFilterInput | None" = strawberry.field(default=strawberry.UNSET, description="A nested filter (at most 3 levels).")


@strawberry.input(description="Which events a meter counts.")
class MeterFilterInput:
    conjunction: FilterConjunction = strawberry.field(default=FilterConjunction.AND, description="How the clauses combine.")
    clauses: list[MeterFilterClauseInput] = strawberry.field(description="Conditions and nested filters; none matches every event. At most 50 here, 100 in the whole filter (nested filters count), 3 levels deep.")


def filter_to_dict(value: MeterFilterInput) -> dict[str, Any]:
    clauses = []
    for clause in value.clauses:
        if clause.condition:
            clauses.append({"property": clause.condition.property, "operator": clause.condition.operator.value, "value": clause.condition.value})
        elif clause.filter:
            clauses.append(filter_to_dict(clause.filter))
    return {"conjunction": value.conjunction.value, "clauses": clauses}


@strawberry.input(description="How a meter aggregates its events.")
class MeterAggregationInput:
    func: AggregationFunction = strawberry.field(description="The function.")
    property: str | None = strawberry.field(default=None, description="The metadata key (not for COUNT).")

    def to_dict(self) -> dict[str, Any]:
        return {"func": self.func.value, "property": self.property}


@strawberry.input(description="A new meter.")
class CreateMeterInput:
    name: str = strawberry.field(description="The meter's name.")
    filter: MeterFilterInput = strawberry.field(description="Which events count.")
    aggregation: MeterAggregationInput = strawberry.field(description="How they are counted.")


@strawberry.input(description="Changes to a meter. A new filter or aggregation recounts every customer's totals.")
class UpdateMeterInput:
    id: strawberry.ID = strawberry.field(description="The meter's id.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="A new name.")
    filter: MeterFilterInput | None = strawberry.field(default=strawberry.UNSET, description="A new filter.")
    aggregation: MeterAggregationInput | None = strawberry.field(default=strawberry.UNSET, description="A new aggregation.")

    def changes(self) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if self.name is not strawberry.UNSET:
            changes["name"] = self.name
        if self.filter:
            changes["filter"] = filter_to_dict(self.filter)
        if self.aggregation:
            changes["aggregation"] = self.aggregation.to_dict()
        return changes


@strawberry.input(description="Which meter.")
class MeterIdInput:
    id: strawberry.ID = strawberry.field(description="The meter's id.")


@strawberry.input(description="Credit units to a customer's meter for the current period.")
class GrantMeterCreditInput:
    customer_id: strawberry.ID = strawberry.field(description="The customer.")
    meter_id: strawberry.ID = strawberry.field(description="The meter.")
    units: str = strawberry.field(description="How many units, a positive decimal number as a string (e.g. \"1000\" or \"0.5\").")
    external_id: str | None = strawberry.field(default=None, description="Your idempotency key: a second grant with it is counted as a duplicate, not applied.")
    idempotency_key: str | None = idempotency_key_field()


@strawberry.input(description="Start a new period of a customer's meter: consumption and credits count from now on.")
class ResetCustomerMeterInput:
    customer_id: strawberry.ID = strawberry.field(description="The customer.")
    meter_id: strawberry.ID = strawberry.field(description="The meter.")
    external_id: str | None = strawberry.field(default=None, description="Your idempotency key.")


@strawberry.input(description="Billing-status thresholds, in percent of credits used. Omitted ones stay.")
class UpdateOrganizationSettingsInput:
    warning_threshold: int | None = strawberry.field(default=None, description="From this percent a meter is WARNING (default 80).")
    critical_threshold: int | None = strawberry.field(default=None, description="From this percent a meter is CRITICAL (default 95).")
    exceeded_threshold: int | None = strawberry.field(default=None, description="From this percent a meter is EXCEEDED (default 100).")
