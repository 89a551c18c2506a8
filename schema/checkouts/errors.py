"""Checkout errors and their GraphQL form."""

from __future__ import annotations

import enum

import strawberry

from app.checkouts.errors import CheckoutBusy, CheckoutNotOpen
from schema.kit.errors import Error, register_error


@strawberry.enum(description="Where a checkout stands.")
class CheckoutStatus(enum.Enum):
    OPEN = strawberry.enum_value("open", description="Being filled in; can be confirmed.")
    EXPIRED = strawberry.enum_value("expired", description="Not paid before `expiresAt`.")
    CONFIRMED = strawberry.enum_value("confirmed", description="The payment was submitted; its outcome arrives shortly (by the processor's webhook).")
    SUCCEEDED = strawberry.enum_value("succeeded", description="Paid, or nothing was due: its order exists.")
    FAILED = strawberry.enum_value("failed", description="The last payment was declined (`failureCode`, `failureMessage`); it may be confirmed again until it expires.")


@strawberry.type(description="The checkout cannot change or be confirmed in its state; `status` says which. Nothing was changed.")
class CheckoutNotOpenError(Error):
    status: CheckoutStatus = strawberry.field(description="The checkout's status.")


@strawberry.type(description="Another confirmation of this checkout is running now; nothing was done (there is never a second charge). Read the checkout for the outcome.")
class CheckoutBusyError(Error):
    pass


register_error(
    CheckoutNotOpen,
    "The checkout cannot change or be confirmed in its state (succeeded, expired, or its payment is being processed).",
    CheckoutNotOpenError,
    lambda e: CheckoutNotOpenError(message=e.message, code=e.code, status=CheckoutStatus(e.status.value)),
)
register_error(
    CheckoutBusy,
    "Another confirmation of this checkout is running now; nothing was done.",
    CheckoutBusyError,
    lambda e: CheckoutBusyError(message=e.message, code=e.code),
)
