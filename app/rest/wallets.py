"""The wallet REST twins for apps that do not speak GraphQL: `GET /v1/wallets/check` (does the
wallet cover a use?) and holds: `POST /v1/wallets/holds`, `POST /v1/wallets/holds/{id}/capture`,
`POST /v1/wallets/holds/{id}/release` (an `Idempotency-Key` header makes a retry replay the
first answer). Insufficient funds and a hold no longer active are 409s with a reason."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, post

from app.kit import jobs
from app.kit.db import DATABASE_ERRORS
from app.kit.errors import FieldIssue, KassaError, ValidationFailed
from app.kit.ids import to_global_id
from app.models.wallet import WalletHold
from app.rest.common import (
    RestError, customer_of, decode_json, error_response, from_domain_error, idempotent, json_response, parse_id, refused_by_database, subject_for,
)
from app.wallets import holds, service
from app.wallets import scopes as wallets_scopes
from app.wallets.errors import HoldNotActive, InsufficientFunds


def _error(exc: KassaError, location: str = "body") -> RestError:
    if isinstance(exc, InsufficientFunds):
        return RestError(
            409, {"error": exc.code, "detail": exc.message, "reason": exc.reason, "available": exc.available, "requested": exc.requested, "currency": exc.currency}
        )
    if isinstance(exc, HoldNotActive):
        return RestError(409, {"error": exc.code, "detail": exc.message, "status": exc.status})
    return from_domain_error(exc, location)


def hold_json(row: WalletHold, currency: str) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "graphql_id": to_global_id("WalletHold", row.id),
        "wallet_id": str(row.wallet_id),
        "customer_id": str(row.customer_id),
        "member_id": str(row.member_id) if row.member_id else None,
        "status": row.status,
        "currency": currency,
        "amount": row.amount,
        "captured_amount": row.captured_amount,
        "expires_at": row.expires_at.isoformat(),
        "resolved_at": row.resolved_at.isoformat() if row.resolved_at else None,
        "description": row.description,
        "created_at": row.created_at.isoformat(),
    }


@get("/v1/wallets/check")
async def wallet_check(request: Request) -> Response:
    """`?customer_id=` (or `external_customer_id=`), `meter_id=`, `units=`, optional `member_id=`:
    `{covers, reason, estimated_cost, available, member_budget_remaining, currency}`. Always 200
    for a known customer; `covers` is the answer. Reads only."""
    runtime = request.app.state.runtime
    query = request.query_params
    try:
        async with runtime.session_factory() as session:
            subject = await subject_for(request, session, wallets_scopes.READ)
            try:
                customer = await customer_of(session, subject, query.get("customer_id"), query.get("external_customer_id"))
                meter_id = parse_id(query.get("meter_id"), "Meter")
                if meter_id is None:
                    raise ValidationFailed([FieldIssue(("meter_id",), "is required", "required")])
                if query.get("units") is None:
                    raise ValidationFailed([FieldIssue(("units",), "is required", "required")])
                member_id = parse_id(query.get("member_id"), "Member")
                c = await holds.check(session, subject, customer.id, member_id, meter_id, query.get("units"), customer=customer)
            except KassaError as exc:
                raise _error(exc, "query") from None
            except DATABASE_ERRORS as exc:
                raise refused_by_database(exc, "query") from None
    except RestError as error:
        return error_response(error)
    return json_response(
        {
            "covers": c.covers, "reason": c.reason, "estimated_cost": c.estimated_cost, "available": c.available,
            "member_budget_remaining": c.member_budget_remaining, "currency": c.currency,
        }
    )


async def _keyed(request: Request, payload: Any, work) -> Response:
    """Run `work(session, subject) -> (status, body)` in one transaction under the request's
    `Idempotency-Key`, committing its answer (a typed error's too: nothing else changed)."""
    runtime = request.app.state.runtime
    try:
        async with runtime.session_factory() as session:
            subject = await subject_for(request, session, wallets_scopes.WRITE)

            async def run() -> tuple[int, Any]:
                try:
                    return await work(session, subject)
                except KassaError as exc:
                    raise _error(exc) from None
                except DATABASE_ERRORS as exc:
                    raise refused_by_database(exc) from None

            status, body = await idempotent(request, session, subject, payload, run)
            await jobs.commit(session, runtime.redis)
    except RestError as error:
        return error_response(error)
    return json_response(body, status)


def _object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise RestError(422, {"error": "VALIDATION_ERROR", "detail": [{"loc": ["body"], "msg": "must be a JSON object", "type": "invalid_body"}]})
    return payload


@post("/v1/wallets/holds", status_code=201)
async def create_hold(request: Request) -> Response:
    """Body `{customer_id | external_customer_id, member_id?, currency, amount, expires_in,
    description?}`: 201 with the hold; 409 `INSUFFICIENT_FUNDS` (with `reason` and `available`)
    when the wallet, or the member's budget, does not cover it."""
    try:
        payload = _object(decode_json(await request.body()))
    except RestError as error:
        return error_response(error)

    async def work(session, subject) -> tuple[int, Any]:
        customer = await customer_of(session, subject, payload.get("customer_id"), payload.get("external_customer_id"))
        row = await holds.hold(
            session, subject, customer.id, parse_id(payload.get("member_id"), "Member"), payload.get("currency"), payload.get("amount"),
            payload.get("expires_in"), payload.get("description"), customer=customer,
        )
        return 201, hold_json(row, service.check_currency_code(payload.get("currency")))

    return await _keyed(request, payload, work)


def _path_hold_id(request: Request) -> uuid.UUID:
    return parse_id(request.path_params["hold_id"], "WalletHold", "hold_id")  # type: ignore[return-value]


@post("/v1/wallets/holds/{hold_id:str}/capture", status_code=200)
async def capture_hold(request: Request) -> Response:
    """Body `{amount?}` (the held amount by default, at most it): the captured hold; 409
    `HOLD_NOT_ACTIVE` (with `status`) when it was captured, released or expired."""
    raw = await request.body()
    try:
        payload = _object(decode_json(raw)) if raw.strip() else {}
    except RestError as error:
        return error_response(error)

    async def work(session, subject) -> tuple[int, Any]:
        wallet, row = await holds.capture(session, subject, _path_hold_id(request), payload.get("amount"))
        return 200, hold_json(row, wallet.currency)

    return await _keyed(request, payload, work)


@post("/v1/wallets/holds/{hold_id:str}/release", status_code=200)
async def release_hold(request: Request) -> Response:
    """The released hold; 409 `HOLD_NOT_ACTIVE` when it was not active."""

    async def work(session, subject) -> tuple[int, Any]:
        wallet, row = await holds.release(session, subject, _path_hold_id(request))
        return 200, hold_json(row, wallet.currency)

    return await _keyed(request, {}, work)


ROUTES = [wallet_check, create_hold, capture_hold, release_hold]
