"""`GET /v1/billing-status` and `GET /v1/quota/check`: the GraphQL billing status and quota
pre-check for apps that do not speak GraphQL."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get

from app.customers import service as customers
from app.kit.db import DATABASE_ERRORS
from app.kit.decimals import decimal_text
from app.kit.errors import FieldIssue, KassaError, NotFound, ValidationFailed
from app.kit.ids import parse_global_id, to_global_id
from app.kit.validation import check_lookup_text
from app.meters import billing_status as billing
from app.meters.billing_status import MeterStatus
from app.rest.common import RestError, error_response, from_domain_error, json_response, refused_by_database, subject_for
from app.meters import scopes as meters_scopes


def _id(value: str | None, name: str) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        try:
            return parse_global_id(value, name)
        except NotFound:
            raise ValidationFailed([FieldIssue((f"{name.lower()}_id",), f"is not a {name} id", "invalid_id")]) from None


async def _customer(session, subject, request: Request):
    customer_id, external_id = request.query_params.get("customer_id"), request.query_params.get("external_customer_id")
    if (customer_id is None) == (external_id is None):
        raise ValidationFailed([FieldIssue(("customer_id",), "give exactly one of customer_id or external_customer_id", "customer_required")])
    if customer_id is not None:
        return await customers.get_customer(session, subject, _id(customer_id, "Customer"))
    check_lookup_text({"external_customer_id": external_id})
    return await customers.get_customer_by_external_id(session, subject, external_id)


def _meter_json(status: MeterStatus) -> dict[str, Any]:
    return {
        "meter_id": str(status.meter.id),
        "meter": {"id": str(status.meter.id), "graphql_id": to_global_id("Meter", status.meter.id), "name": status.meter.name},
        "name": status.meter.name,
        "consumed": decimal_text(status.consumed),
        "credited": decimal_text(status.credited),
        "balance": decimal_text(status.balance),
        "remaining": decimal_text(status.remaining),
        "percent_used": decimal_text(status.percent_used) if status.percent_used is not None else None,
        "status": status.status,
        "has_quota": status.has_quota,
        **({"member_consumed": decimal_text(status.member_consumed)} if status.member_consumed is not None else {}),
    }


@get("/v1/billing-status")
async def billing_status(request: Request) -> Response:
    """`?customer_id=` (or `external_customer_id=`) and optional `member_id=`: per meter
    consumed, credited, remaining, percent used and status, and the worst status overall."""
    runtime = request.app.state.runtime
    try:
        async with runtime.session_factory() as session:
            subject = await subject_for(request, session, meters_scopes.READ)
            try:
                customer = await _customer(session, subject, request)
                member_id = _id(request.query_params.get("member_id"), "Member")
                status = await billing.billing_status(session, subject, customer, member_id)
            except KassaError as exc:
                raise from_domain_error(exc, "query") from None
            except DATABASE_ERRORS as exc:
                raise refused_by_database(exc, "query") from None
    except RestError as error:
        return error_response(error)
    return json_response(
        {
            "customer_id": str(customer.id),
            "member_id": str(member_id) if member_id else None,
            "status": status.status,
            "meters": [_meter_json(m) for m in status.meters],
        }
    )


@get("/v1/quota/check")
async def quota_check(request: Request) -> Response:
    """`?customer_id=` (or `external_customer_id=`), optional `meter_id=`, `units=`,
    `member_id=`: `{"allowed", "reason", "meters"}`. Always 200; `allowed` is the answer."""
    runtime = request.app.state.runtime
    try:
        async with runtime.session_factory() as session:
            subject = await subject_for(request, session, meters_scopes.READ)
            try:
                customer = await _customer(session, subject, request)
                decision = await billing.check_quota(
                    session,
                    subject,
                    customer,
                    meter_id=_id(request.query_params.get("meter_id"), "Meter"),
                    units=request.query_params.get("units"),
                    member_id=_id(request.query_params.get("member_id"), "Member"),
                )
            except KassaError as exc:
                raise from_domain_error(exc, "query") from None
            except DATABASE_ERRORS as exc:
                raise refused_by_database(exc, "query") from None
    except RestError as error:
        return error_response(error)
    return json_response({"allowed": decision.allowed, "reason": decision.reason, "meters": [_meter_json(m) for m in decision.meters]})
