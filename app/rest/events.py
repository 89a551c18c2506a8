"""`POST /v1/events/ingest`: the same request and response as Polar's ingest endpoint."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post

from app.events import service
from app.kit import jobs
from app.kit.db import DATABASE_ERRORS
from app.kit.errors import KassaError
from app.events import scopes as events_scopes
from app.rest.common import (
    RestError,
    decode_json,
    error_response,
    from_domain_error,
    idempotent,
    json_response,
    refused_by_database,
    subject_for,
)


@post("/v1/events/ingest", status_code=200)
async def ingest_events(request: Request) -> Response:
    """Body `{"events": [{name, timestamp, customer_id | external_customer_id, member_id |
    external_member_id, external_id, metadata}]}` (at most 1,000); answers
    `{"inserted", "duplicates"}`, or 422 naming every bad event, with nothing stored. With an
    `Idempotency-Key` header, a retry replays the first answer (see `idempotent`)."""
    runtime = request.app.state.runtime
    try:
        async with runtime.session_factory() as session:
            subject = await subject_for(request, session, events_scopes.WRITE)
            payload = decode_json(await request.body())
            if not isinstance(payload, dict) or "events" not in payload:
                raise RestError(
                    422, {"error": "VALIDATION_ERROR", "detail": [{"loc": ["body", "events"], "msg": "is required", "type": "required"}]}
                )

            async def ingest() -> tuple[int, Any]:
                try:
                    result = await service.ingest(session, subject, payload["events"])
                except KassaError as exc:
                    raise from_domain_error(exc) from None
                except DATABASE_ERRORS as exc:
                    raise refused_by_database(exc) from None
                return 200, {"inserted": result.inserted, "duplicates": result.duplicates}

            status, body = await idempotent(request, session, subject, payload, ingest)
            await jobs.commit(session, runtime.redis)
    except RestError as error:
        return error_response(error)
    return json_response(body, status)
