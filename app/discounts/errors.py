"""Typed errors of discounts and tax rates."""

from __future__ import annotations

import enum
import uuid

from app.kit.errors import KassaError


class NotApplicableReason(str, enum.Enum):
    """Why a discount cannot be applied."""

    archived = "archived"
    not_started = "not_started"
    expired = "expired"
    exhausted = "exhausted"
    other_product = "other_product"
    other_currency = "other_currency"


REASON_MESSAGES = {
    NotApplicableReason.archived: "The discount is archived",
    NotApplicableReason.not_started: "The discount has not started yet",
    NotApplicableReason.expired: "The discount has expired",
    NotApplicableReason.exhausted: "The discount has been redeemed as many times as it may be",
    NotApplicableReason.other_product: "The discount does not apply to this product",
    NotApplicableReason.other_currency: "The discount's amount is in another currency than the price",
}


class DiscountNotApplicable(KassaError):
    """The discount exists but cannot be applied here and now; `reason` says why. Nothing changed."""

    code = "DISCOUNT_NOT_APPLICABLE"

    def __init__(self, discount_id: uuid.UUID | None, reason: NotApplicableReason) -> None:
        super().__init__(REASON_MESSAGES[reason])
        self.discount_id = discount_id
        self.reason = reason
