"""What every REST handler shares: authentication, JSON responses, errors in one shape."""

from __future__ import annotations

import logging
import uuid
from typing import Any, Awaitable, Callable

import msgspec
from litestar import Request, Response

from app.auth.errors import AuthenticationFailed
from app.auth.scopes import Scope
from app.auth.service import authenticate, parse_authorization
from app.auth.subject import Subject
from app.customers import service as customers
from app.kit.bodies import BodyRefused, decode_json_body
from app.kit.db import input_data_error
from app.kit import idempotency
from app.kit.errors import FieldIssue, KassaError, NotFound, ValidationFailed
from app.kit.ids import parse_global_id
from app.kit.idempotency import IdempotencyKeyReused
from app.kit.rate_limit import RateLimited
from app.kit.request_limits import admit
from app.kit.validation import check_lookup_text

_ENCODER = msgspec.json.Encoder(decimal_format="string")
logger = logging.getLogger(__name__)


class RestError(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(content=_ENCODER.encode(body), status_code=status, media_type="application/json", headers=headers)


def error_response(error: RestError) -> Response:
    return json_response(error.body, error.status, error.headers)


async def subject_for(request: Request, session, scope: Scope) -> Subject:
    try:
        token = parse_authorization(request.headers.get("authorization"))
        if token is None:
            raise AuthenticationFailed("Authentication required: send 'Authorization: Bearer <access token>'")
        subject = await authenticate(session, token)
    except AuthenticationFailed as exc:
        raise RestError(401, {"error": exc.code, "detail": exc.message}, {"WWW-Authenticate": "Bearer"}) from None
    try:  # the organization's rate limit and slot (app.kit.request_limits), once it is known
        await admit(request, subject.organization_id, before_wait=session.close)
    except RateLimited as exc:
        raise RestError(429, {"error": exc.code, "detail": exc.message}, {"Retry-After": str(exc.retry_after)}) from None
    if not subject.has_scope(scope.value):
        raise RestError(403, {"error": "FORBIDDEN", "detail": f"This access token lacks the '{scope.value}' scope"})
    return subject


def parse_id(value: Any, name: str, field: str | None = None) -> uuid.UUID | None:
    """A UUID or a GraphQL global id of `name` from a query, path or body value (None stays
    None); else ValidationFailed on `field` (`<name>_id` by default)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            try:
                return parse_global_id(value, name)
            except NotFound:
                pass
    raise ValidationFailed([FieldIssue((field or f"{name.lower()}_id",), f"is not a {name} id", "invalid_id")])


async def customer_of(session, subject: Subject, customer_id: Any, external_id: Any):
    """The customer named by exactly one of `customer_id` (a UUID or global id) or
    `external_customer_id` (the merchant's own id)."""
    if (customer_id is None) == (external_id is None):
        raise ValidationFailed([FieldIssue(("customer_id",), "give exactly one of customer_id or external_customer_id", "customer_required")])
    if customer_id is not None:
        return await customers.get_customer(session, subject, parse_id(customer_id, "Customer"))
    if not isinstance(external_id, str):
        raise ValidationFailed([FieldIssue(("external_customer_id",), "must be a string", "invalid_external_id")])
    check_lookup_text({"external_customer_id": external_id})
    return await customers.get_customer_by_external_id(session, subject, external_id)


def from_domain_error(exc: KassaError, location: str = "body") -> RestError:
    """Validation errors in FastAPI's shape (as Polar answers): `detail` lists every bad field
    with its `loc`, from the request `body` or its `query` string."""
    if isinstance(exc, ValidationFailed):
        detail = [
            {"loc": [location, *[int(p) if p.isdigit() else p for p in issue.path]], "msg": issue.message, "type": issue.code}
            for issue in exc.issues
        ]
        return RestError(422, {"error": exc.code, "detail": detail})
    if isinstance(exc, NotFound):
        return RestError(404, {"error": exc.code, "detail": exc.message})
    if isinstance(exc, IdempotencyKeyReused):
        return RestError(422, {"error": exc.code, "detail": exc.message})
    return RestError(409, {"error": exc.code, "detail": exc.message})


def decode_json(body: bytes) -> Any:
    """A REST body: each handler bounds what it reads (see `decode_json_body`)."""
    try:
        return decode_json_body(body, check_shape=False)
    except BodyRefused as exc:
        raise RestError(400, {"error": "BAD_REQUEST", "detail": exc.message}) from None


def refused_by_database(exc: BaseException, location: str = "body") -> RestError:
    """The REST handlers' last resort behind validation: a value the database refused (NUL in
    text, a number or date out of range) is a 422, logged at info level. Any other database
    error is re-raised: a 500."""
    cause = input_data_error(exc)
    if cause is None:
        raise exc
    logger.info("input refused by the database: %s: %s", type(cause).__name__, cause)
    detail = [{"loc": [location], "msg": "holds a value the database cannot store or compare", "type": "invalid_value"}]
    return RestError(422, {"error": "VALIDATION_ERROR", "detail": detail})


IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"


async def idempotent(
    request: Request, session, subject: Subject, payload: Any, work: Callable[[], Awaitable[tuple[int, Any]]]
) -> tuple[int, Any]:
    """`work()` (a status and a JSON body, or a `RestError`) under the request's
    `Idempotency-Key` header, if it has one (app/kit/idempotency.py): the operation is the
    method and path, the hash covers `payload` (the decoded body). A key already answered
    replays its status and body; otherwise the work runs in a savepoint and its answer (an
    error too, the savepoint then rolled back) is stored before the handler commits.
    `work` must not roll the session back itself: it raises, and this rolls back its part."""
    key = request.headers.get(IDEMPOTENCY_KEY_HEADER)
    if key is None:
        return await work()
    settings = request.app.state.runtime.settings
    try:
        keyed = idempotency.keyed_request(f"{request.method} {request.url.path}", key, payload, (IDEMPOTENCY_KEY_HEADER,))
        stored = await idempotency.claim_as_configured(session, subject.scope, keyed, settings)
    except KassaError as exc:
        raise from_domain_error(exc, "header") from None
    if stored is not None:
        return stored["status"], stored["body"]
    savepoint = await session.begin_nested()
    try:
        status, body = await work()
        await savepoint.commit()
    except RestError as error:
        await savepoint.rollback()
        status, body = error.status, error.body
    await idempotency.record(session, subject.scope, keyed, {"status": status, "body": body})
    return status, body
