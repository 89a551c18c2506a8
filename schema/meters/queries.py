"""Queries about meters, billing status and quotas."""

from __future__ import annotations

from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.subject import Subject
from app.customers import service as customers
from app.kit.ids import parse_global_id
from app.meters import billing_status as billing
from app.meters import service
from app.meters import scopes as meters_scopes
from schema.kit.errors import BadRequest, run_query
from schema.kit.relay import Connection
from schema.kit.scopes import scoped_field
from schema.meters.types import BillingStatus, MeterConnection, Meter, QuotaCheck


async def _customer(session, subject, id: str | None, external_id: str | None):
    if (id is None) == (external_id is None):
        raise BadRequest("Give exactly one of `customerId` or `externalCustomerId`")
    if id is not None:
        return await customers.get_customer(session, subject, parse_global_id(id, "Customer"))
    return await customers.get_customer_by_external_id(session, subject, external_id)


CustomerIdArg = Annotated[strawberry.ID | None, strawberry.argument(description="The customer's id.")]
ExternalIdArg = Annotated[str | None, strawberry.argument(description="Or the customer's external id.")]
MemberIdArg = Annotated[strawberry.ID | None, strawberry.argument(description="A member of the customer, for its own consumption.")]


@strawberry.type
class MeterQueries:
    @scoped_field(meters_scopes.READ, "The organization's meters.")
    async def meters(
        self,
        info: strawberry.Info,
        first: Annotated[int, strawberry.argument(description="Page size, 1 to 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="The `endCursor` of the previous page.")] = None,
        archived: Annotated[bool | None, strawberry.argument(description="Only archived (true) or only active (false) meters.")] = None,
    ) -> MeterConnection:
        max_page_size = info.context.settings.page_size_max
        page = await run_query(
            info,
            lambda session, subject: service.list_meters(
                session, subject, archived=archived, first=first, after=after, max_page_size=max_page_size
            ),
        )
        return Connection.from_page(page, Meter.from_model)

    @scoped_field(
        meters_scopes.READ,
        "A customer's usage against its credits, per meter: consumed, credited, remaining, percent used and status "
        "(thresholds per organization). Read from running totals: constant time however long the history.",
    )
    async def billing_status(
        self,
        info: strawberry.Info,
        customer_id: CustomerIdArg = None,
        external_customer_id: ExternalIdArg = None,
        member_id: MemberIdArg = None,
    ) -> BillingStatus:

        async def status(session: AsyncSession, subject: Subject) -> billing.BillingStatus:
            customer = await _customer(session, subject, customer_id, external_customer_id)
            member = parse_global_id(member_id, "Member") if member_id else None
            return await billing.billing_status(session, subject, customer, member)

        data = await run_query(info, status)
        return BillingStatus.from_data(data)

    @scoped_field(
        meters_scopes.READ,
        "Call before serving a request: allowed or not, with a reason. Refused when a meter with credits has used "
        "them up or has fewer left than `units`; meters without credits do not limit.",
    )
    async def check_quota(
        self,
        info: strawberry.Info,
        customer_id: CustomerIdArg = None,
        external_customer_id: ExternalIdArg = None,
        meter_id: Annotated[strawberry.ID | None, strawberry.argument(description="Only this meter (else every meter).")] = None,
        units: Annotated[str | None, strawberry.argument(description="Units the request is about to use, as a decimal string.")] = None,
        member_id: MemberIdArg = None,
    ) -> QuotaCheck:

        async def check(session: AsyncSession, subject: Subject) -> billing.QuotaDecision:
            customer = await _customer(session, subject, customer_id, external_customer_id)
            return await billing.check_quota(
                session,
                subject,
                customer,
                meter_id=parse_global_id(meter_id, "Meter") if meter_id else None,
                units=units,
                member_id=parse_global_id(member_id, "Member") if member_id else None,
            )

        decision = await run_query(info, check)
        return QuotaCheck.from_data(decision)
