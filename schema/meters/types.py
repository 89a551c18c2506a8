"""GraphQL types of meters, customer meters and billing status."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Union

import strawberry
from strawberry.scalars import JSON

from app.kit.ids import to_global_id
from app.meters.billing_status import BillingStatus as BillingStatusData
from app.meters.billing_status import MeterStatus as MeterStatusData
from app.meters.billing_status import QuotaDecision
from app.models import CustomerMeter as CustomerMeterModel
from app.models import Meter as MeterModel
from schema.kit.loaders import loader
from schema.kit.relay import Connection, Node
from schema.meters.loaders import member_meters_of_customer, meter_by_id


@strawberry.enum(description="How a filter combines its clauses.")
class FilterConjunction(enum.Enum):
    AND = strawberry.enum_value("and", description="Every clause must match.")
    OR = strawberry.enum_value("or", description="At least one clause must match.")


@strawberry.enum(description="How a condition compares an event's property with its value.")
class FilterOperator(enum.Enum):
    EQ = strawberry.enum_value("eq", description="Equal (string, number or boolean).")
    NE = strawberry.enum_value("ne", description="Present and not equal.")
    GT = strawberry.enum_value("gt", description="Greater than (numbers).")
    GTE = strawberry.enum_value("gte", description="Greater than or equal (numbers).")
    LT = strawberry.enum_value("lt", description="Less than (numbers).")
    LTE = strawberry.enum_value("lte", description="Less than or equal (numbers).")
    LIKE = strawberry.enum_value("like", description="A string property containing the value (case-sensitive).")
    NOT_LIKE = strawberry.enum_value("not_like", description="A string property not containing the value.")


@strawberry.enum(description="How a meter turns matching events into a quantity.")
class AggregationFunction(enum.Enum):
    COUNT = strawberry.enum_value("count", description="The number of matching events.")
    SUM = strawberry.enum_value("sum", description="The sum of a numeric metadata property.")
    MAX = strawberry.enum_value("max", description="The largest value of a numeric metadata property.")
    MIN = strawberry.enum_value("min", description="The smallest value of a numeric metadata property.")
    AVG = strawberry.enum_value("avg", description="The average of a numeric metadata property.")
    UNIQUE = strawberry.enum_value("unique", description="The number of distinct values of a metadata property.")


@strawberry.enum(description="Where a meter stands against its credits.")
class MeterStatusLevel(enum.Enum):
    OK = strawberry.enum_value("ok", description="Below the warning threshold, or no credits (no quota).")
    WARNING = strawberry.enum_value("warning", description="At or past the organization's warning threshold (80 % by default).")
    CRITICAL = strawberry.enum_value("critical", description="At or past the critical threshold (95 % by default).")
    EXCEEDED = strawberry.enum_value("exceeded", description="At or past the exceeded threshold (100 % by default): the credits are used up.")


@strawberry.type(description="A condition on one property of an event.")
class MeterCondition:
    property: str = strawberry.field(description="`name` (the event name) or a metadata key (`metadata.KEY` or `KEY`).")
    operator: FilterOperator = strawberry.field(description="The comparison.")
    value: JSON = strawberry.field(description="A string, number or boolean.")


@strawberry.type(description="Which events a meter counts: clauses combined with `and` or `or`; clauses may nest.")
class MeterFilter:
    conjunction: FilterConjunction = strawberry.field(description="How the clauses combine.")
    clauses: list[Annotated[Union[MeterCondition, "MeterFilter"], strawberry.union("MeterFilterClause", description="A condition or a nested filter.")]] = strawberry.field(description="The conditions and nested filters.")

    @classmethod
    def from_dict(cls, value: dict) -> "MeterFilter":
        clauses = [
            MeterFilter.from_dict(c) if "clauses" in c else MeterCondition(property=c["property"], operator=FilterOperator(c["operator"]), value=c["value"])
            for c in value.get("clauses", [])
        ]
        return cls(conjunction=FilterConjunction(value.get("conjunction", "and")), clauses=clauses)


@strawberry.type(description="How a meter aggregates its events.")
class MeterAggregation:
    func: AggregationFunction = strawberry.field(description="The function.")
    property: str | None = strawberry.field(description="The metadata key it reads; none for `COUNT`.")


@strawberry.type(description="Something a merchant bills for: a filter over usage events and an aggregation of the matching ones.")
class Meter(Node):
    model: strawberry.Private[MeterModel]
    name: str = strawberry.field(description="The meter's name.")
    filter: MeterFilter = strawberry.field(description="Which events count.")
    aggregation: MeterAggregation = strawberry.field(description="How they are counted.")
    archived_at: datetime | None = strawberry.field(description="When it was archived; archived meters count nothing.")
    created_at: datetime = strawberry.field(description="When it was created.")

    @classmethod
    def from_model(cls, row: MeterModel) -> "Meter":
        return cls(
            model=row,
            id=strawberry.ID(to_global_id("Meter", row.id)),
            name=row.name,
            filter=MeterFilter.from_dict(row.filter),
            aggregation=MeterAggregation(func=AggregationFunction(row.aggregation["func"]), property=row.aggregation.get("property")),
            archived_at=row.archived_at,
            created_at=row.created_at,
        )


@strawberry.type(description="One meter's standing for a customer (and, when asked, for one member).")
class MeterBillingStatus:
    meter: Meter = strawberry.field(description="The meter.")
    consumed: Decimal = strawberry.field(description="Quantity used in the current period.")
    credited: Decimal = strawberry.field(description="Quantity granted as credits in the current period.")
    balance: Decimal = strawberry.field(description="credited - consumed; negative when over.")
    remaining: Decimal = strawberry.field(description="What is left: the balance, or zero when over.")
    percent_used: Decimal | None = strawberry.field(description="consumed / credited in percent; null without credits.")
    status: MeterStatusLevel = strawberry.field(description="Where the meter stands against the thresholds.")
    has_quota: bool = strawberry.field(description="Whether the customer has credits on this meter (else it is unlimited).")
    member_consumed: Decimal | None = strawberry.field(description="What the given member used, when a member was given.")

    @classmethod
    def from_data(cls, data: MeterStatusData) -> "MeterBillingStatus":
        return cls(
            meter=Meter.from_model(data.meter),
            consumed=data.consumed,
            credited=data.credited,
            balance=data.balance,
            remaining=data.remaining,
            percent_used=data.percent_used,
            status=MeterStatusLevel(data.status),
            has_quota=data.has_quota,
            member_consumed=data.member_consumed,
        )


@strawberry.type(description="A customer's usage against its credits, meter by meter.")
class BillingStatus:
    status: MeterStatusLevel = strawberry.field(description="The worst status among the meters.")
    meters: list[MeterBillingStatus] = strawberry.field(description="Every active meter.")
    customer_id: strawberry.ID = strawberry.field(description="The customer.")
    member_id: strawberry.ID | None = strawberry.field(description="The member, when one was given.")

    @classmethod
    def from_data(cls, data: BillingStatusData) -> "BillingStatus":
        return cls(
            status=MeterStatusLevel(data.status),
            meters=[MeterBillingStatus.from_data(m) for m in data.meters],
            customer_id=strawberry.ID(to_global_id("Customer", data.customer.id)),
            member_id=strawberry.ID(to_global_id("Member", data.member_id)) if data.member_id else None,
        )


@strawberry.enum(description="Why a quota check allowed or refused a request.")
class QuotaReason(enum.Enum):
    OK = strawberry.enum_value("ok", description="Enough credits left.")
    NO_QUOTA = strawberry.enum_value("no_quota", description="No credits on the meter(s): usage is not limited.")
    QUOTA_EXCEEDED = strawberry.enum_value("quota_exceeded", description="The credits are used up.")
    INSUFFICIENT_QUOTA = strawberry.enum_value("insufficient_quota", description="Fewer credits left than the units asked for.")


@strawberry.type(description="The answer to: may the app serve this request?")
class QuotaCheck:
    allowed: bool = strawberry.field(description="Serve the request or not.")
    reason: QuotaReason = strawberry.field(description="Why.")
    meters: list[MeterBillingStatus] = strawberry.field(description="The meters checked.")

    @classmethod
    def from_data(cls, data: QuotaDecision) -> "QuotaCheck":
        return cls(allowed=data.allowed, reason=QuotaReason(data.reason), meters=[MeterBillingStatus.from_data(m) for m in data.meters])


@strawberry.type(description="What one member of a business customer used of a meter.")
class CustomerMeterMember:
    member_id: strawberry.ID = strawberry.field(description="The member.")
    consumed: Decimal = strawberry.field(description="Quantity the member used in the current period.")


@strawberry.type(description="A customer's running totals for one meter, kept current as events arrive.")
class CustomerMeter:
    model: strawberry.Private[CustomerMeterModel]
    consumed: Decimal = strawberry.field(description="Quantity used in the current period.")
    credited: Decimal = strawberry.field(description="Credits granted in the current period.")
    balance: Decimal = strawberry.field(description="credited - consumed.")
    last_reset_at: datetime | None = strawberry.field(description="When the current period started, if it was ever reset.")
    modified_at: datetime = strawberry.field(description="When the totals last changed.")

    @strawberry.field(description="The meter.")
    async def meter(self, info: strawberry.Info) -> Meter:
        return Meter.from_model(await loader(info, meter_by_id).load(self.model.meter_id))

    @strawberry.field(description="The breakdown per member (events attributed to a member), largest first.")
    async def members(self, info: strawberry.Info) -> list[CustomerMeterMember]:
        rows = await loader(info, member_meters_of_customer).load(self.model.customer_id)
        mine = sorted((r for r in rows if r.meter_id == self.model.meter_id), key=lambda r: (-r.consumed, str(r.member_id)))
        return [CustomerMeterMember(member_id=strawberry.ID(to_global_id("Member", r.member_id)), consumed=r.consumed) for r in mine]

    @classmethod
    def from_model(cls, row: CustomerMeterModel) -> "CustomerMeter":
        return cls(
            model=row,
            consumed=row.consumed,
            credited=row.credited,
            balance=row.credited - row.consumed,
            last_reset_at=row.last_reset_at,
            modified_at=row.modified_at,
        )


MeterConnection = Connection[Meter]
