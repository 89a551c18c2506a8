"""The ASGI app: `POST /graphql` (GET serves GraphiQL; a WebSocket there carries the live
updates, schema/live/transport.py) and `GET /health`.

The GraphQL endpoint is a plain litestar route calling `schema.execute`: it authenticates the
bearer token once, gives the operation a session gate, and closes it when the response is
built. Each mutation commits or rolls back its own transaction (see `schema.kit.errors`), so
nothing here commits.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import msgspec
from arq import create_pool
from strawberry.types.graphql import OperationType
from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import State
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from strawberry.http.ides import get_graphql_ide_html
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from app import load_scope_declarations
from app.auth.errors import AuthenticationFailed
from app.auth.service import authenticate, parse_authorization
from app.config import Settings, get_settings
from app.platform.services import redis_settings_from_url
from app.rest.billing import billing_status, quota_check
from app.rest.events import ingest_events
from app.rest.stripe_webhook import stripe_webhook
from app.rest.wallets import ROUTES as WALLET_ROUTES
from app.kit.bodies import BodyRefused, decode_json_body, too_large_message
from app.kit.gc_tuning import tune_garbage_collector
from app.kit.live import LiveHub
from app.kit.db import SessionGate, create_engine, create_session_factory, statement_counter
from app.kit.rate_limit import OrganizationLimits, RateLimited
from app.kit.request_ids import current_request_id, log_unexpected, request_id_middleware
from app.kit.request_limits import RequestLimitsMiddleware, admit, cap_graphql_response, graphql_error_body, rate_limited_graphql

load_scope_declarations()  # every domain's access token scopes (app/<domain>/scopes.py)

_JSON = "application/json"
_ENCODER = msgspec.json.Encoder()
_POST_OPERATIONS = (OperationType.QUERY, OperationType.MUTATION)


@dataclass
class Runtime:
    """What every request needs, built once per process (or handed in by tests)."""

    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]
    redis: Redis  # an arq pool: also the job queue
    schema: Any
    limits: OrganizationLimits = field(init=False)
    live: LiveHub = field(init=False)  # the process's one pub/sub connection for live updates

    def __post_init__(self) -> None:
        self.limits = OrganizationLimits.from_settings(self.settings, self.redis)
        self.live = LiveHub(self.redis)


def _error_response(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> Response:
    return Response(content=graphql_error_body(message, code), status_code=status, media_type=_JSON, headers=headers)


def _formatted(error) -> dict[str, Any]:
    """Every error carries `extensions.code`: ours set it; a query graphql-core refused (syntax,
    validation, depth, token and alias limits) gets GRAPHQL_VALIDATION_FAILED; anything else is
    an unexpected error, masked outside debug."""
    formatted = error.formatted
    extensions = formatted.setdefault("extensions", {})
    if "code" not in extensions:
        extensions["code"] = "GRAPHQL_VALIDATION_FAILED" if error.path is None else "INTERNAL_SERVER_ERROR"
    if extensions["code"] == "INTERNAL_SERVER_ERROR":
        extensions["requestId"] = current_request_id()
    return formatted


def _door_error(request: Request, status: int, code: str, message: str, **extra: Any) -> Response:
    """An error answered by the app rather than a handler, in the shape of the door it came to:
    GraphQL's on /graphql (`extra` in `extensions`), REST's elsewhere (`extra` beside `detail`)."""
    if request.url.path == "/graphql":
        content = graphql_error_body(message, code, **extra)
    else:
        content = _ENCODER.encode({"error": code, "detail": message, **extra})
    return Response(content=content, status_code=status, media_type=_JSON)


def _unexpected_error(request: Request, exc: Exception) -> Response:
    """Any exception no handler caught: logged with the request id and answered with it, never
    a bare framework 500."""
    request_id = log_unexpected(exc, f"{request.method} {request.url.path}")
    message = f"Internal server error; quote request id {request_id} when reporting it"
    if request.url.path == "/graphql":
        return _door_error(request, 500, "INTERNAL_SERVER_ERROR", message, requestId=request_id)
    return _door_error(request, 500, "INTERNAL_SERVER_ERROR", message, request_id=request_id)


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


@get("/graphql", include_in_schema=False)
async def graphql_ide() -> Response:
    return Response(content=get_graphql_ide_html("graphiql"), media_type="text/html")


@post("/graphql", include_in_schema=False, status_code=200)
async def graphql_endpoint(request: Request) -> Response:
    from schema.context import Context

    runtime = _runtime(request)
    try:
        payload = decode_json_body(await request.body())
    except BodyRefused as exc:
        return _error_response(400, exc.message, "BAD_REQUEST")
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str) or not payload["query"].strip():
        return _error_response(400, "The request body must be an object with a non-empty `query` string", "BAD_REQUEST")
    variables, operation_name = payload.get("variables"), payload.get("operationName")
    if variables is not None and not isinstance(variables, dict):
        return _error_response(400, "`variables` must be an object", "BAD_REQUEST")
    if operation_name is not None and not isinstance(operation_name, str):
        return _error_response(400, "`operationName` must be a string", "BAD_REQUEST")

    counter = [0]
    reset = statement_counter.set(counter)
    gate = SessionGate(runtime.session_factory)
    try:
        subject = None
        try:
            token = parse_authorization(request.headers.get("authorization"))
            if token is not None:
                async with gate.use() as session:
                    subject = await authenticate(session, token)
                gate.act_for(subject.scope)
        except AuthenticationFailed as exc:
            return _error_response(401, exc.message, exc.code, {"WWW-Authenticate": "Bearer"})
        if subject is not None:
            try:
                await admit(request, subject.organization_id, before_wait=gate.release)
            except RateLimited as exc:
                content, limit_headers = rate_limited_graphql(exc)
                return Response(content=content, status_code=429, media_type=_JSON, headers=limit_headers)
        context = Context(settings=runtime.settings, db=gate, subject=subject, queue=runtime.redis)
        try:
            result = await runtime.schema.execute(
                payload["query"],
                variable_values=variables,
                context_value=context,
                operation_name=operation_name,
                allowed_operation_types=_POST_OPERATIONS,
            )
        except InvalidOperationTypeError:
            return _error_response(400, "Only queries and mutations are served here", "BAD_REQUEST")
        except CannotGetOperationTypeError:
            message = f"Unknown operation named {operation_name!r}" if operation_name else "Give `operationName`: the query has several operations"
            return _error_response(400, message, "BAD_REQUEST")
    finally:
        await gate.close()
        statement_counter.reset(reset)
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [_formatted(error) for error in result.errors]
    headers = {"X-Kassa-SQL-Statements": str(counter[0])} if runtime.settings.expose_sql_count else None
    content = cap_graphql_response(_ENCODER.encode(body), context.operation_type, runtime.settings.graphql_max_response_bytes)
    return Response(content=content, media_type=_JSON, headers=headers)


def _too_large(request: Request, _exc: RequestEntityTooLarge) -> Response:
    """413 in Kassa's shape: GraphQL's error shape on /graphql, the REST shape elsewhere."""
    return _door_error(request, 413, "PAYLOAD_TOO_LARGE", too_large_message(_runtime(request).settings.request_max_body_size))


@get("/health")
async def health(request: Request) -> Response:
    """200 when the database and Redis answer, a worker checked in recently and jobs do not lag;
    503 otherwise (see app/platform/health.py)."""
    from app.platform.health import report

    runtime = _runtime(request)
    status, body = await report(runtime.settings, runtime.session_factory, runtime.redis)
    return Response(content=body, status_code=status)


@get("/", include_in_schema=False)
async def index() -> Response:
    return Response(
        content={"name": "Kassa", "graphql": "/graphql", "health": "/health"},
        media_type=_JSON,
    )


def create_app(
    settings: Settings | None = None,
    *,
    session_factory: async_sessionmaker[AsyncSession] | None = None,
    redis: Redis | None = None,
) -> Litestar:
    """Build the app. Without a session factory or Redis client, they are created from the
    settings when the app starts and closed when it stops."""
    from schema import build_schema, schema
    from schema.live.transport import graphql_live

    settings = settings or get_settings()
    graphql_schema = schema if settings == get_settings() else build_schema(settings)
    state = State()
    if session_factory is not None and redis is not None:
        state.runtime = Runtime(settings=settings, session_factory=session_factory, redis=redis, schema=graphql_schema)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        engine: AsyncEngine | None = None
        own_redis: Redis | None = None
        if session_factory is not None and redis is not None:
            try:
                yield
            finally:
                await app.state.runtime.live.close()
            return
        factory, client = session_factory, redis
        if factory is None:
            if not settings.database_url:
                raise RuntimeError("DATABASE_URL is not set (use `kassa serve` or `kassa run`)")
            engine = create_engine(
                settings.database_url,
                role=settings.database_app_role,
                pool_size=settings.db_pool_size,
                statement_timeout_seconds=settings.request_timeout_seconds,
            )
            factory = create_session_factory(engine)
        if client is None:
            if not settings.redis_url:
                raise RuntimeError("REDIS_URL is not set (use `kassa serve` or `kassa run`)")
            client = own_redis = await create_pool(redis_settings_from_url(settings.redis_url))
        app.state.runtime = Runtime(settings=settings, session_factory=factory, redis=client, schema=graphql_schema)
        # Start-up is over: what it built lives as long as the process (app/kit/gc_tuning.py).
        tune_garbage_collector(settings.gc_gen0_threshold)
        try:
            yield
        finally:
            await app.state.runtime.live.close()
            if own_redis is not None:
                await own_redis.aclose()
            if engine is not None:
                await engine.dispose()

    return Litestar(
        route_handlers=[
            graphql_ide, graphql_endpoint, graphql_live, health, index, ingest_events, billing_status, quota_check, stripe_webhook, *WALLET_ROUTES,
        ],
        lifespan=[lifespan],
        middleware=[request_id_middleware, RequestLimitsMiddleware],  # the first is the outermost
        exception_handlers={500: _unexpected_error, RequestEntityTooLarge: _too_large},
        state=state,
        debug=settings.debug,
        openapi_config=None,
        request_max_body_size=settings.request_max_body_size,
    )
