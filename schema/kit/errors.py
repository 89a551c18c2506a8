"""Typed mutation errors and the one place where domain exceptions become GraphQL errors.

Every mutation returns a union of its success payload and the error types it can produce;
`run_mutation` owns the mutation's transaction: commit on success, roll back on any error.
Queries do not return error unions: `run_query` turns a domain exception into a top-level
`BAD_USER_INPUT` error, or into null where a missing object is an ordinary answer.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Literal, TypeVar, overload

import strawberry
from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.subject import Subject
from app.catalog.errors import LastActivePrice, ProductArchived
from app.customers.errors import CustomerAlreadyBusiness, CustomerNotBusiness, DuplicateExternalId
from app.kit import jobs
from app.kit.db import DATABASE_ERRORS, input_data_error
from app.kit.errors import FieldIssue, KassaError, NotFound, ValidationFailed
from app.kit.ids import to_global_id
from app.meters.errors import MeterArchived
from app.members.errors import DuplicateMemberEmail, DuplicateMemberExternalId, MemberRoleRule

T = TypeVar("T")
logger = logging.getLogger(__name__)


class BadRequest(GraphQLError):
    """A query's arguments are unusable (a top-level error; queries do not return error unions)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": "BAD_USER_INPUT"})


@strawberry.interface(description="An error a mutation returns instead of its result. Nothing was changed.")
class Error:
    message: str = strawberry.field(description="What went wrong, for a person to read.")
    code: str = strawberry.field(description="A stable machine-readable code, e.g. `NOT_FOUND`.")


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


@strawberry.type(description="Another customer of this organization already has this external id.")
class DuplicateExternalIdError(Error):
    external_id: str = strawberry.field(description="The external id already in use.")


@strawberry.type(description="The customer already has an active member with this email.")
class DuplicateMemberEmailError(Error):
    email: str = strawberry.field(description="The email already in use.")
    path: list[str] = strawberry.field(description="The input field holding the duplicate.")


@strawberry.type(description="The customer already has an active member with this external id.")
class DuplicateMemberExternalIdError(Error):
    external_id: str = strawberry.field(description="The external id already in use.")
    path: list[str] = strawberry.field(description="The input field holding the duplicate.")


@strawberry.type(description="Only business customers can do this; upgrade the individual with `upgradeCustomerToBusiness`.")
class CustomerNotBusinessError(Error):
    pass


@strawberry.type(description="The customer is already a business.")
class CustomerAlreadyBusinessError(Error):
    pass


@strawberry.type(
    description="A member role rule would be broken: one owner per customer, the owner is not removable "
    "and keeps its role until ownership is transferred."
)
class MemberRoleError(Error):
    rule: str = strawberry.field(
        description="The rule: `owner_not_removable`, `owner_role_fixed`, `owner_by_transfer_only` or `already_owner`."
    )


@strawberry.type(description="The product is archived: its prices cannot change until it is unarchived with `unarchiveProduct`.")
class ProductArchivedError(Error):
    product_id: strawberry.ID = strawberry.field(description="The archived product's id.")


@strawberry.type(
    description="A product keeps at least one active price: add the replacement with `createProductPrice` "
    "(its `archivePriceIds` archives this one in the same step), or archive the product instead."
)
class LastActivePriceError(Error):
    price_id: strawberry.ID = strawberry.field(description="The id of the price that could not be archived.")


@strawberry.type(description="The meter is archived: it counts nothing until it is unarchived.")
class MeterArchivedError(Error):
    pass


def _path(field: str) -> list[str]:
    return field.split(".")


_CONVERTERS: dict[type[KassaError], Callable[[Any], Any]] = {
    ValidationFailed: lambda e: ValidationError(
        message=e.message,
        code=e.code,
        fields=[FieldError(path=list(i.path), message=i.message, code=i.code) for i in e.issues],
    ),
    NotFound: lambda e: NotFoundError(message=e.message, code=e.code, id=e.id),
    DuplicateExternalId: lambda e: DuplicateExternalIdError(message=e.message, code=e.code, external_id=e.value),
    DuplicateMemberEmail: lambda e: DuplicateMemberEmailError(message=e.message, code=e.code, email=e.value, path=_path(e.field)),
    DuplicateMemberExternalId: lambda e: DuplicateMemberExternalIdError(
        message=e.message, code=e.code, external_id=e.value, path=_path(e.field)
    ),
    CustomerNotBusiness: lambda e: CustomerNotBusinessError(message=e.message, code=e.code),
    CustomerAlreadyBusiness: lambda e: CustomerAlreadyBusinessError(message=e.message, code=e.code),
    MemberRoleRule: lambda e: MemberRoleError(message=e.message, code=e.code, rule=e.rule),
    MeterArchived: lambda e: MeterArchivedError(message=e.message, code=e.code),
    ProductArchived: lambda e: ProductArchivedError(
        message=e.message, code=e.code, product_id=strawberry.ID(to_global_id("Product", e.product_id))
    ),
    LastActivePrice: lambda e: LastActivePriceError(
        message=e.message, code=e.code, price_id=strawberry.ID(to_global_id("ProductPrice", e.price_id))
    ),
}


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


def to_error_type(exc: KassaError) -> Any:
    for cls in type(exc).__mro__:
        converter = _CONVERTERS.get(cls)
        if converter is not None:
            return converter(exc)
    raise exc


async def run_mutation(
    info: strawberry.Info,
    work: Callable[[AsyncSession, Subject], Awaitable[T]],
    success: Callable[[T], Any],
) -> Any:
    """Run `work` in one transaction: commit (then enqueue the jobs it asked for) and return
    `success(result)`, or roll back and return the typed error. Unexpected exceptions roll back
    and propagate (masked outside debug)."""
    context = info.context
    subject = context.subject
    async with context.db.transaction() as session:
        try:
            result = await work(session, subject)
        except KassaError as exc:
            await session.rollback()
            return to_error_type(exc)
        except DATABASE_ERRORS as exc:
            refused = refused_by_database(exc)
            if refused is None:
                raise
            await session.rollback()
            return to_error_type(refused)
        await jobs.commit(session, context.queue)
    return success(result)


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
