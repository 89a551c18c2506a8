"""`GET /v1/billing-status` and `GET /v1/quota/check`: the GraphQL billing status and quota
pre-check for apps that do not speak GraphQL."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from app.kit.db import DATABASE_ERRORS
from app.kit.decimals import decimal_text
from app.kit.errors import KassaError
from app.kit.ids import to_global_id
from app.meters import billing_status as billing
from app.meters.billing_status import MeterStatus
from app.rest.common import RestError, customer_of, error_response, from_domain_error, json_response, parse_id, refused_by_database, subject_for
from app.meters import scopes as meters_scopes


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
                customer = await customer_of(session, subject, request.query_params.get("customer_id"), request.query_params.get("external_customer_id"))
                member_id = parse_id(request.query_params.get("member_id"), "Member")
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
                customer = await customer_of(session, subject, request.query_params.get("customer_id"), request.query_params.get("external_customer_id"))
                decision = await billing.check_quota(
                    session,
                    subject,
                    customer,
                    meter_id=parse_id(request.query_params.get("meter_id"), "Meter"),
                    units=request.query_params.get("units"),
                    member_id=parse_id(request.query_params.get("member_id"), "Member"),
                )
            except KassaError as exc:
                raise from_domain_error(exc, "query") from None
            except DATABASE_ERRORS as exc:
                raise refused_by_database(exc, "query") from None
    except RestError as error:
        return error_response(error)
    return json_response({"allowed": decision.allowed, "reason": decision.reason, "meters": [_meter_json(m) for m in decision.meters]})
