"""GraphQL over a WebSocket on `/graphql`: the graphql-transport-ws protocol (strawberry's own
handler), for the `Live` root's subscription operations only (queries and mutations go over
HTTP, where limits, idempotency and commits live).

Authentication is the organization access token, as for HTTP: in the `connection_init` payload
(`{"Authorization": "Bearer <token>"}` or `{"token": "<token>"}`) or else in the upgrade
request's `Authorization` header. A missing, unknown, expired or revoked token closes the
connection with 4403 (the protocol's "Forbidden") before any operation runs; the operations check
their scope. Each operation reads with sessions of its own (schema/live/operations.py), so a
connection holds no database connection while it waits.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping

from litestar import WebSocket, websocket
from strawberry.exceptions import ConnectionRejectionError
from strawberry.litestar.controller import LitestarWebSocketAdapter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET

from app.auth.errors import AuthenticationFailed
from app.auth.service import authenticate, parse_authorization
from app.kit.db import SessionGate
from schema.context import Context

logger = logging.getLogger("kassa.live")

CONNECTION_INIT_TIMEOUT = timedelta(seconds=10)
MAX_OPERATIONS_PER_CONNECTION = 20
_SUBSCRIPTIONS_ONLY = (OperationType.SUBSCRIPTION,)


@dataclass
class LiveContext(Context):
    """A connection's context: the HTTP context's fields, plus what its operations need to read
    (sessions of their own) and listen (the process's live hub)."""

    session_factory: Any = None
    hub: Any = None
    upgrade_authorization: str | None = None
    connection_params: Any = None


def _token_of(params: Any, header: str | None) -> str | None:
    """The access token from the connection_init payload, else from the upgrade header; raises
    AuthenticationFailed when one is given in a bad shape."""
    if isinstance(params, Mapping):
        for key in ("Authorization", "authorization"):
            if params.get(key) is not None:
                value = params[key]
                if not isinstance(value, str):
                    raise AuthenticationFailed("`Authorization` must be a string: 'Bearer <access token>'")
                return parse_authorization(value)
        if params.get("token") is not None:
            if not isinstance(params["token"], str) or not params["token"]:
                raise AuthenticationFailed("`token` must be the access token, a string")
            return params["token"]
    return parse_authorization(header)


class _LiveView:
    """What strawberry's protocol handler needs of a view: JSON and the connection hook."""

    decode_json = staticmethod(json.loads)

    @staticmethod
    def encode_json(data: object) -> str:
        return json.dumps(data, separators=(",", ":"), default=str)

    async def on_ws_connect(self, context: LiveContext) -> Any:
        try:
            token = _token_of(context.connection_params, context.upgrade_authorization)
            if token is None:
                raise AuthenticationFailed("Authentication required: send the access token in the connection_init payload")
            async with context.db.use() as session:
                context.subject = await authenticate(session, token)
        except AuthenticationFailed as exc:
            logger.info("live connection refused: %s", exc.code)
            raise ConnectionRejectionError() from None
        finally:
            await context.db.close()  # authentication's session only: operations open their own
        return UNSET


class _SubscriptionsOnly:
    """The schema as the protocol handler sees it: subscription operations only."""

    def __init__(self, schema: Any) -> None:
        self._schema = schema

    async def stream(self, *args: Any, **kwargs: Any) -> Any:
        return await self._schema.stream(*args, allowed_operation_types=_SUBSCRIPTIONS_ONLY, **kwargs)


@websocket("/graphql", include_in_schema=False)
async def graphql_live(socket: WebSocket) -> None:
    runtime = socket.app.state.runtime
    if GRAPHQL_TRANSPORT_WS_PROTOCOL not in (socket.scope.get("subprotocols") or []):
        await socket.accept()
        await socket.close(code=4406, reason="Subprotocol not acceptable: use graphql-transport-ws")
        return
    await socket.accept(subprotocols=GRAPHQL_TRANSPORT_WS_PROTOCOL)
    view = _LiveView()
    context = LiveContext(
        settings=runtime.settings,
        db=SessionGate(runtime.session_factory),
        subject=None,
        queue=runtime.redis,
        session_factory=runtime.session_factory,
        hub=runtime.live,
        upgrade_authorization=socket.headers.get("authorization"),
    )
    handler = BaseGraphQLTransportWSHandler(
        view=view,  # type: ignore[arg-type]
        websocket=LitestarWebSocketAdapter(view, socket, socket),  # type: ignore[arg-type]
        context=context,
        root_value=None,
        schema=_SubscriptionsOnly(runtime.schema),  # type: ignore[arg-type]
        connection_init_wait_timeout=CONNECTION_INIT_TIMEOUT,
        max_subscriptions_per_connection=MAX_OPERATIONS_PER_CONNECTION,
    )
    await handler.handle()
