"""Request ids: every HTTP response carries `X-Request-Id`, and every unexpected error is logged
with it, so a merchant quoting the id from a failed response points at one log line.

A caller may send its own `X-Request-Id` (1 to 128 letters, digits, `-`, `_`, `.`, `:`); otherwise
Kassa makes one. Inside the request, `current_request_id()` returns it.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar
from typing import Any

logger = logging.getLogger("kassa.errors")

HEADER = "x-request-id"
_HEADER_BYTES = HEADER.encode()
_VALID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_request_id: ContextVar[str | None] = ContextVar("kassa_request_id", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


def _incoming(scope: dict[str, Any]) -> str | None:
    for name, value in scope.get("headers") or ():
        if name == _HEADER_BYTES:
            return value.decode("ascii") if _VALID.fullmatch(value) else None
    return None


def request_id_middleware(app: Any) -> Any:
    """ASGI middleware: set the request id for the request and add it to the response headers."""

    async def middleware(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        request_id = _incoming(scope) or uuid.uuid4().hex
        token = _request_id.set(request_id)
        header = (_HEADER_BYTES, request_id.encode("ascii"))

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                if not any(name.lower() == _HEADER_BYTES for name, _ in headers):
                    headers.append(header)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            _request_id.reset(token)

    return middleware


def log_unexpected(exc: BaseException, where: str) -> str | None:
    """Log an unexpected exception with its traceback and the request id; returns the id."""
    request_id = current_request_id()
    logger.error("unexpected error in %s (request id %s): %s: %s", where, request_id or "-", type(exc).__name__, exc, exc_info=exc)
    return request_id
