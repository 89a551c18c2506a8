"""Discount errors and their GraphQL form."""

from __future__ import annotations

import enum

import strawberry

from app.discounts.errors import DiscountNotApplicable
from app.kit.ids import to_global_id
from schema.kit.errors import Error, register_error


@strawberry.enum(description="Why a discount cannot be applied.")
class DiscountNotApplicableReason(enum.Enum):
    ARCHIVED = strawberry.enum_value("archived", description="The discount is archived.")
    NOT_STARTED = strawberry.enum_value("not_started", description="Its `startsAt` is still to come.")
    EXPIRED = strawberry.enum_value("expired", description="Its `endsAt` has passed.")
    EXHAUSTED = strawberry.enum_value("exhausted", description="It was redeemed `maxRedemptions` times.")
    OTHER_PRODUCT = strawberry.enum_value("other_product", description="It is restricted to other products.")
    OTHER_CURRENCY = strawberry.enum_value("other_currency", description="Its fixed amount is in another currency than the price.")


@strawberry.type(description="The discount exists but cannot be applied here and now; `reason` says why. Nothing was changed.")
class DiscountNotApplicableError(Error):
    reason: DiscountNotApplicableReason = strawberry.field(description="Why the discount does not apply.")
    discount_id: strawberry.ID | None = strawberry.field(description="The discount's id; null when no stored discount was involved.")


register_error(
    DiscountNotApplicable,
    "The discount cannot be applied here and now (archived, not started, expired, exhausted, other product or currency).",
    DiscountNotApplicableError,
    lambda e: DiscountNotApplicableError(
        message=e.message,
        code=e.code,
        reason=DiscountNotApplicableReason(e.reason.value),
        discount_id=strawberry.ID(to_global_id("Discount", e.discount_id)) if e.discount_id else None,
    ),
)
