"""Typed mutation errors and the one place where domain exceptions become GraphQL errors.

Every mutation returns a union of its success payload, the error types it can produce and
`UnexpectedDomainError` (see `mutation_result`); `run_mutation` owns the mutation's transaction:
commit on success, roll back on any error. A domain error (a `KassaError`) always reaches the
caller as a member of the mutation's union: its own error type when the union lists it (or the
nearest base class's), else `UnexpectedDomainError` with the same code. `scoped_mutation` adds
`DomainErrorsAsMembers`, which does the same for one raised by the resolver outside `run_mutation`.

This module knows no domain. Each domain declares its errors' GraphQL form next to them, in
`schema/<domain>/errors.py`, and registers them here with `register_error` (the domain error
class, the code's description, and optionally its GraphQL type and converter). The `ErrorCode`
enum of the schema is assembled from those registrations in `schema/error_codes.py`.

Queries do not return error unions: `run_query` turns a domain exception into a top-level
`BAD_USER_INPUT` error, or into null where a missing object is an ordinary answer.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Awaitable, Callable, Literal, TypeVar, Union, overload

import strawberry
from graphql import GraphQLError, GraphQLUnionType, get_named_type
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.extensions import FieldExtension

from app.kit import idempotency, jobs
from app.kit.db import DATABASE_ERRORS, input_data_error
from app.kit.errors import Conflict, CurrencyMismatch, FieldIssue, KassaError, NotFound, ValidationFailed
from app.kit.idempotency import IdempotencyKeyInUse, IdempotencyKeyReused, KeyedRequest
from schema.kit import idempotency as keyed

if TYPE_CHECKING:
    from app.auth.subject import Subject

T = TypeVar("T")
E = TypeVar("E", bound=KassaError)
logger = logging.getLogger(__name__)


class BadRequest(GraphQLError):
    """A query's arguments are unusable (a top-level error; queries do not return error unions)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": "BAD_USER_INPUT"})


# The enum is built once every domain has registered its codes (schema/error_codes.py); the
# lazy reference keeps this module free of domain imports.
ErrorCodeType = Annotated["ErrorCode", strawberry.lazy("schema.error_codes")]


@strawberry.interface(description="An error a mutation returns instead of its result. Nothing was changed.")
class Error:
    message: str = strawberry.field(description="What went wrong, for a person to read.")
    code: ErrorCodeType = strawberry.field(description="A stable machine-readable code, e.g. `NOT_FOUND`.")


@strawberry.type(description="One invalid input field.")
class FieldError:
    path: list[str] = strawberry.field(description="Where the field is, from the mutation's `input`, e.g. `[\"members\", \"0\", \"email\"]`.")
    message: str = strawberry.field(description="Why the value is refused.")
    code: str = strawberry.field(description="A stable code for the rule, e.g. `invalid_email`, `too_long`, `required`.")


@strawberry.type(description="Some input fields are invalid; `fields` lists every one of them.")
class ValidationError(Error):
    fields: list[FieldError] = strawberry.field(description="Every invalid field with its path.")


@strawberry.type(description="No such object in this organization: unknown, deleted, another organization's, or an id of another type.")
class NotFoundError(Error):
    id: str | None = strawberry.field(description="The id that was not found, when it could not be decoded; otherwise null.")


@strawberry.type(
    description="A domain error this mutation has no more specific type for; `code` says which. "
    "Every mutation can return it, so no error is ever masked."
)
class UnexpectedDomainError(Error):
    pass


@dataclass(frozen=True)
class _Registration:
    error: type[KassaError]
    description: str
    graphql_type: type | None
    convert: Callable[[Any], Any] | None


_REGISTRY: dict[type[KassaError], _Registration] = {}
_CODES: dict[str, str] = {}  # code -> description


_SEALED: list[bool] = []  # set once the ErrorCode enum is built


def register_error(
    error: type[E],
    description: str,
    graphql_type: type | None = None,
    convert: Callable[[E], Any] | None = None,
) -> None:
    """Declare a domain error: its code (`error.code`, an `ErrorCode` value described by
    `description`) and, optionally, the GraphQL error type `convert` turns it into. A subclass
    without its own registration uses its nearest registered base class's."""
    if _SEALED:
        raise TypeError(f"{error.__name__} is registered after ErrorCode was built: declare it in a schema/<domain>/errors.py module")
    if (graphql_type is None) != (convert is None):
        raise TypeError("register_error: give both graphql_type and convert, or neither")
    if error in _REGISTRY:
        raise TypeError(f"{error.__name__} is registered twice")
    known = _CODES.get(error.code)
    if known is not None and known != description:
        raise TypeError(f"code {error.code} is described twice, differently")
    _REGISTRY[error] = _Registration(error, description, graphql_type, convert)
    _CODES[error.code] = description


def error_code_enum() -> Any:
    """The `ErrorCode` GraphQL enum: every registered code, named as the string clients see."""
    _SEALED.append(True)
    members = {code: strawberry.enum_value(code, description=_CODES[code]) for code in sorted(_CODES)}
    return strawberry.enum(
        enum.Enum("ErrorCode", members),  # type: ignore[misc]
        name="ErrorCode",
        description="Every code an error type's `code` can hold. Match on it rather than on `message`.",
    )


def registered_codes() -> frozenset[str]:
    return frozenset(_CODES)


def mutation_result(name: str, description: str, *members: type) -> Any:
    """A mutation's result union: its success payload and error types, and `UnexpectedDomainError`."""
    return Annotated[Union[tuple([*members, UnexpectedDomainError])], strawberry.union(name, description=description)]


register_error(KassaError, "A domain error without a more specific code.")
register_error(
    ValidationFailed,
    "Some input fields are invalid.",
    ValidationError,
    lambda e: ValidationError(
        message=e.message,
        code=e.code,
        fields=[FieldError(path=list(i.path), message=i.message, code=i.code) for i in e.issues],
    ),
)
register_error(
    NotFound,
    "No such object in this organization.",
    NotFoundError,
    lambda e: NotFoundError(message=e.message, code=e.code, id=e.id),
)
register_error(Conflict, "A uniqueness rule would be broken.")
register_error(CurrencyMismatch, "Amounts in different currencies were combined; they must be in one currency.")
# No type of their own: every mutation's union answers them as `UnexpectedDomainError` with these codes.
register_error(IdempotencyKeyReused, "The idempotency key was already used for this operation with a different input; nothing was done.")
register_error(IdempotencyKeyInUse, "Another request with the same idempotency key is still running; nothing was done, retry later.")


def refused_by_database(exc: BaseException) -> ValidationFailed | None:
    """The last resort behind input validation: the database refused a value from the input
    (see `app.kit.db.input_data_error`). Logged at info level: it is the caller's mistake, but
    one that validation should have caught."""
    cause = input_data_error(exc)
    if cause is None:
        return None
    logger.info("input refused by the database: %s: %s", type(cause).__name__, cause)
    issue = FieldIssue((), "holds a value the database cannot store or compare", "invalid_value")
    return ValidationFailed([issue], "The input holds a value the database cannot store or compare")


_UNION_MEMBERS: dict[str, frozenset[str]] = {}


def _union_members(info: strawberry.Info) -> frozenset[str]:
    """The GraphQL type names the field being resolved can return (its union's members), from
    graphql-core's resolve info (strawberry's `info.return_type` holds Python classes)."""
    named = get_named_type(info._raw_info.return_type)
    members = _UNION_MEMBERS.get(named.name)
    if members is None:
        members = frozenset(t.name for t in named.types) if isinstance(named, GraphQLUnionType) else frozenset()
        _UNION_MEMBERS[named.name] = members
    return members


def to_error_type(exc: KassaError, members: frozenset[str] | None = None) -> Any:
    """The GraphQL error for `exc`: the registered type of its class or of the nearest base class
    whose type `members` (a union's member names; None: any) holds, else `UnexpectedDomainError`."""
    for cls in type(exc).__mro__:
        registration = _REGISTRY.get(cls)  # type: ignore[arg-type]
        if registration is None or registration.graphql_type is None:
            continue
        if members is None or registration.graphql_type.__strawberry_definition__.name in members:
            return registration.convert(exc)  # type: ignore[misc]
    code = exc.code if exc.code in _CODES else KassaError.code
    if code != exc.code:
        logger.error("domain error %s has an unregistered code %r", type(exc).__name__, exc.code)
    return UnexpectedDomainError(message=exc.message, code=code)  # type: ignore[arg-type]


class DomainErrorsAsMembers(FieldExtension):
    """On every mutation (see `scoped_mutation`): a domain error raised by the resolver outside
    `run_mutation` (nothing was written then) is answered as a member of the union as well."""

    def resolve(self, next_: Any, source: Any, info: strawberry.Info, **kwargs: Any) -> Any:
        try:
            return next_(source, info, **kwargs)
        except KassaError as exc:
            return to_error_type(exc, _union_members(info))

    async def resolve_async(self, next_: Any, source: Any, info: strawberry.Info, **kwargs: Any) -> Any:
        try:
            return await next_(source, info, **kwargs)
        except KassaError as exc:
            return to_error_type(exc, _union_members(info))


async def run_mutation(
    info: strawberry.Info,
    work: Callable[[AsyncSession, Subject], Awaitable[T]],
    success: Callable[[T], Any],
) -> Any:
    """Run `work` in one transaction: commit (then enqueue the jobs it asked for) and return
    `success(result)`, or roll back and return the typed error, always a member of the mutation's
    union (see `to_error_type`). Unexpected exceptions roll back and propagate (masked outside debug).

    A mutation whose input has an `idempotencyKey` field, called with one, goes through
    `_run_keyed` instead: the same, plus Stripe's semantics (app/kit/idempotency.py)."""
    request = keyed.request_of(info)
    if request is not None:
        return await _run_keyed(info, request, work, success)
    context = info.context
    subject = context.subject
    async with context.db.transaction() as session:
        try:
            result = await work(session, subject)
        except KassaError as exc:
            await session.rollback()
            return to_error_type(exc, _union_members(info))
        except DATABASE_ERRORS as exc:
            refused = refused_by_database(exc)
            if refused is None:
                raise
            await session.rollback()
            return to_error_type(refused, _union_members(info))
        await jobs.commit(session, context.queue)
    return success(result)


async def _run_keyed(
    info: strawberry.Info,
    request: KeyedRequest,
    work: Callable[[AsyncSession, Subject], Awaitable[T]],
    success: Callable[[T], Any],
) -> Any:
    """Claim the key first in the transaction. A key already answered is replayed (rebuilt after
    the transaction, objects as they are now); otherwise `work` runs in a savepoint, and its
    answer, a success or a typed error (the savepoint then rolled back), is stored with the key
    before the commit: a retry after a crash between the commit and the answer replays it."""
    context = info.context
    subject = context.subject
    members = _union_members(info)
    settings = context.settings
    async with context.db.transaction() as session:
        try:
            stored = await idempotency.claim_as_configured(session, subject.scope, request, settings)
        except KassaError as exc:
            await session.rollback()
            return to_error_type(exc, members)
        if stored is None:
            savepoint = await session.begin_nested()
            try:
                result = await work(session, subject)
                await savepoint.commit()
                answer = success(result)
            except KassaError as exc:
                await savepoint.rollback()
                answer = to_error_type(exc, members)
            except DATABASE_ERRORS as exc:
                refused = refused_by_database(exc)
                if refused is None:
                    raise
                await savepoint.rollback()
                answer = to_error_type(refused, members)
            await idempotency.record(session, subject.scope, request, keyed.describe(answer))
            await jobs.commit(session, context.queue)
            return answer
        await session.rollback()  # a replay changes nothing
    return await keyed.rebuild(info, stored)


@overload
async def run_query(
    info: strawberry.Info,
    work: Callable[[AsyncSession, Subject], Awaitable[T]],
    *,
    null_if_not_found: Literal[False] = False,
) -> T: ...


@overload
async def run_query(
    info: strawberry.Info,
    work: Callable[[AsyncSession, Subject], Awaitable[T]],
    *,
    null_if_not_found: Literal[True],
) -> T | None: ...


async def run_query(
    info: strawberry.Info,
    work: Callable[[AsyncSession, Subject], Awaitable[T]],
    *,
    null_if_not_found: bool = False,
) -> T | None:
    """Run `work` with the request's session (through the gate) and return its result.

    A domain error becomes a top-level `BAD_USER_INPUT` error, except `NotFound` when
    `null_if_not_found` is set (a lookup by id): then the answer is null. Unexpected
    exceptions propagate (masked outside debug)."""
    context = info.context

    async def guarded(session: AsyncSession) -> T:
        try:
            return await work(session, context.subject)
        except DATABASE_ERRORS as exc:
            refused = refused_by_database(exc)
            if refused is None:
                raise
            await session.rollback()
            raise refused from None

    try:
        return await context.db.run(guarded)
    except KassaError as exc:
        if null_if_not_found and isinstance(exc, NotFound):
            return None
        raise BadRequest(exc.message) from None
