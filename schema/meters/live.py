"""What `customerMeterUpdates` (the `Live` root, schema/live/) streams: a customer's meters as they
are now. Here, with the meters, so that it belongs to the `meters:read` scope."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from schema.meters.types import MeterStatusLevel


@strawberry.type(description="One meter of a customer as it is now.")
class CustomerMeterState:
    meter_id: strawberry.ID = strawberry.field(description="The meter.")
    meter_name: str = strawberry.field(description="The meter's name.")
    consumed: Decimal = strawberry.field(description="Quantity used in the current period.")
    credited: Decimal = strawberry.field(description="Quantity granted as credits in the current period.")
    balance: Decimal = strawberry.field(description="credited - consumed; negative when over.")
    percent_used: Decimal | None = strawberry.field(description="consumed / credited in percent; null without credits.")
    status: MeterStatusLevel = strawberry.field(description="Where the meter stands against the organization's thresholds.")


@strawberry.type(description="A customer's meters as they are now: sent when subscribed to, then each time new usage or credits were counted.")
class CustomerMeterUpdate:
    customer_id: strawberry.ID = strawberry.field(description="The customer.")
    status: MeterStatusLevel = strawberry.field(description="The worst status among the meters.")
    meters: list[CustomerMeterState] = strawberry.field(description="Every active meter.")
    at: datetime = strawberry.field(description="When this state was read.")
