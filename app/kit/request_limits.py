"""What bounds one API request: its time, its organization's share, its response size.

`RequestLimitsMiddleware` wraps the two doors (`POST /graphql` and the REST routes under `/v1/`;
never `/health`):

- **time**: past `request_timeout_seconds` the request is cancelled (its open transaction rolls
  back) and answered `503` with code `TIMEOUT`, in the door's error shape;
- **organization**: once a handler has authenticated the caller it calls `admit(request,
  organization_id)`, which applies the organization's rate limit and takes one of its slots
  (`app.kit.rate_limit`); the middleware gives the slot back when the request ends, whatever
  happens.

`cap_graphql_response` replaces a query's response larger than `graphql_max_response_bytes`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

import msgspec

from app.kit.rate_limit import OrganizationLimits, RateLimited

logger = logging.getLogger("kassa.request_limits")

_ENCODER = msgspec.json.Encoder()
_ADMISSION = "kassa.admission"


class _Admission:
    """The organization slot a request holds, released by the middleware."""

    __slots__ = ("limits", "release")

    def __init__(self, limits: OrganizationLimits) -> None:
        self.limits = limits
        self.release: Callable[[], None] | None = None


async def admit(request: Any, organization_id: Any, before_wait: Callable[[], Awaitable[Any]] | None = None) -> None:
    """Count an authenticated request against its organization's limits; raises `RateLimited`.

    `before_wait` is awaited before waiting for a slot: hand the database connection back there."""
    admission: _Admission | None = request.scope.get(_ADMISSION)
    if admission is None or admission.release is not None:
        return
    admission.release = await admission.limits.admit(organization_id, before_wait)


def graphql_error_body(message: str, code: str, **extensions: Any) -> bytes:
    return _ENCODER.encode({"data": None, "errors": [{"message": message, "extensions": {"code": code, **extensions}}]})


def rate_limited_graphql(exc: RateLimited) -> tuple[bytes, dict[str, str]]:
    """The GraphQL answer to a refused request (HTTP 429): body and headers."""
    return graphql_error_body(exc.message, exc.code, retryAfter=exc.retry_after), {"Retry-After": str(exc.retry_after)}


def cap_graphql_response(content: bytes, operation_type: str | None, max_bytes: int) -> bytes:
    """A query's response above the cap becomes one `RESPONSE_TOO_LARGE` error. A mutation's
    response is never replaced: its change is committed, and hiding the result would hide it."""
    if max_bytes <= 0 or len(content) <= max_bytes or operation_type == "mutation":
        return content
    return graphql_error_body(
        f"The response would be {len(content)} bytes, above the limit of {max_bytes}: ask for smaller pages or fewer fields",
        "RESPONSE_TOO_LARGE",
        size=len(content),
        maxBytes=max_bytes,
    )


def _limited(scope: dict) -> str | None:
    """Which door a request uses ("graphql", "rest"), or None for what is never limited."""
    if scope["type"] != "http":
        return None
    path = scope.get("path", "")
    if path == "/graphql" and scope.get("method") == "POST":
        return "graphql"
    if path.startswith("/v1/"):
        return "rest"
    return None


def _timeout_body(door: str, seconds: float) -> bytes:
    message = f"The request took longer than {seconds:g} s and was cancelled; nothing it had not committed was kept"
    if door == "graphql":
        return graphql_error_body(message, "TIMEOUT", timeoutSeconds=seconds)
    return _ENCODER.encode({"error": "TIMEOUT", "detail": message})


class RequestLimitsMiddleware:
    """ASGI middleware: the time limit and the organization slot of every API request."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        door = _limited(scope)
        runtime = getattr(scope["app"].state, "runtime", None) if door else None
        if runtime is None:
            await self.app(scope, receive, send)
            return
        admission = scope[_ADMISSION] = _Admission(runtime.limits)
        started = False

        async def tracking_send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        seconds = runtime.settings.request_timeout_seconds
        try:
            async with asyncio.timeout(seconds if seconds > 0 else None) as deadline:
                await self.app(scope, receive, tracking_send)
        except TimeoutError:
            if not deadline.expired():
                raise
            logger.warning("%s %s cancelled after %g s", scope.get("method"), scope.get("path"), seconds)
            if started:
                return  # the response was on its way: nothing else can be sent
            body = _timeout_body(door, seconds)
            await send({"type": "http.response.start", "status": 503,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
        finally:
            if admission.release is not None:
                admission.release()
