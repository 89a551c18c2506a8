"""Mutations on meters and meter credits."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.events import service as events
from app.kit.ids import parse_global_id
from app.meters import service
from app.meters import scopes as meters_scopes
from schema.kit.errors import NotFoundError, ValidationError, mutation_result, run_mutation
from schema.kit.scopes import scoped_mutation
from schema.meters.errors import MeterArchivedError
from schema.meters.inputs import (
    CreateMeterInput,
    GrantMeterCreditInput,
    MeterIdInput,
    ResetCustomerMeterInput,
    UpdateMeterInput,
    filter_to_dict,
)
from schema.meters.types import Meter

_INPUT = "What to do; see the input type."


@strawberry.type(description="The meter was created or changed.")
class MeterSuccess:
    meter: Meter = strawberry.field(description="The meter as it is now.")


@strawberry.type(description="The system event was recorded; the customer's meter is updated within a moment.")
class MeterEventSuccess:
    recorded: bool = strawberry.field(description="False when the external id was already used: nothing was applied twice.")


MeterResult = mutation_result(
    "MeterResult",
    "The meter, or why nothing changed.",
    MeterSuccess,
    ValidationError,
    NotFoundError,
)
MeterEventResult = mutation_result(
    "MeterEventResult",
    "Whether the event was recorded, or why not.",
    MeterEventSuccess,
    ValidationError,
    NotFoundError,
    MeterArchivedError,
)
@strawberry.type
class MeterMutations:
    @scoped_mutation(meters_scopes.WRITE, "Create a meter. It counts every customer's events, past ones included.")
    async def create_meter(self, info: strawberry.Info, input: Annotated[CreateMeterInput, strawberry.argument(description=_INPUT)]) -> MeterResult:
        filter, aggregation = filter_to_dict(input.filter), input.aggregation.to_dict()
        return await run_mutation(
            info,
            lambda session, subject: service.create_meter(session, subject, name=input.name, filter=filter, aggregation=aggregation),
            lambda row: MeterSuccess(meter=Meter.from_model(row)),
        )

    @scoped_mutation(meters_scopes.WRITE, "Rename a meter or change what it counts (which recounts every customer).")
    async def update_meter(self, info: strawberry.Info, input: Annotated[UpdateMeterInput, strawberry.argument(description=_INPUT)]) -> MeterResult:
        changes = input.changes()
        return await run_mutation(
            info,
            lambda session, subject: service.update_meter(session, subject, parse_global_id(input.id, "Meter"), changes),
            lambda row: MeterSuccess(meter=Meter.from_model(row)),
        )

    @scoped_mutation(meters_scopes.WRITE, "Archive a meter: it stops counting and leaves billing status.")
    async def archive_meter(self, info: strawberry.Info, input: Annotated[MeterIdInput, strawberry.argument(description=_INPUT)]) -> MeterResult:
        return await run_mutation(
            info,
            lambda session, subject: service.set_archived(session, subject, parse_global_id(input.id, "Meter"), True),
            lambda row: MeterSuccess(meter=Meter.from_model(row)),
        )

    @scoped_mutation(meters_scopes.WRITE, "Bring an archived meter back; it counts the events again.")
    async def unarchive_meter(self, info: strawberry.Info, input: Annotated[MeterIdInput, strawberry.argument(description=_INPUT)]) -> MeterResult:
        return await run_mutation(
            info,
            lambda session, subject: service.set_archived(session, subject, parse_global_id(input.id, "Meter"), False),
            lambda row: MeterSuccess(meter=Meter.from_model(row)),
        )

    @scoped_mutation(meters_scopes.WRITE, "Credit units to a customer's meter for the current period (a system event).")
    async def grant_meter_credit(
        self, info: strawberry.Info, input: Annotated[GrantMeterCreditInput, strawberry.argument(description=_INPUT)]
    ) -> MeterEventResult:
        return await run_mutation(
            info,
            lambda session, subject: events.grant_credit(
                session, subject, parse_global_id(input.customer_id, "Customer"), parse_global_id(input.meter_id, "Meter"), input.units,
                external_id=input.external_id,
            ),
            lambda result: MeterEventSuccess(recorded=result.inserted == 1),
        )

    @scoped_mutation(meters_scopes.WRITE, "Start a new period of a customer's meter: consumed and credited start again from zero.")
    async def reset_customer_meter(
        self, info: strawberry.Info, input: Annotated[ResetCustomerMeterInput, strawberry.argument(description=_INPUT)]
    ) -> MeterEventResult:
        return await run_mutation(
            info,
            lambda session, subject: events.reset_meter(
                session, subject, parse_global_id(input.customer_id, "Customer"), parse_global_id(input.meter_id, "Meter"),
                external_id=input.external_id,
            ),
            lambda result: MeterEventSuccess(recorded=result.inserted == 1),
        )
