"""Inputs of the discount and tax rate mutations and queries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry

from app.discounts.repository import DiscountFilter as DiscountFilterData
from app.discounts.service import DiscountDraft
from app.kit.errors import FieldIssue, NotFound, ValidationFailed
from app.kit.ids import parse_global_id
from schema.customers.inputs import OrderDirection
from schema.discounts.types import DiscountDuration, DiscountType
from schema.kit.idempotency import idempotency_key_field
from schema.kit.scalars import BigInt


def product_ids(issues: list[FieldIssue], values: list[strawberry.ID]) -> list[uuid.UUID]:
    ids = []
    for index, value in enumerate(values):
        try:
            ids.append(parse_global_id(value, "Product"))
        except NotFound:
            issues.append(FieldIssue(("productIds", str(index)), "is not a Product id", "not_found"))
    return ids


@strawberry.input(description="An amount off.")
class FixedDiscountInput:
    amount: BigInt = strawberry.field(description="The amount off, in minor units of `currency` (e.g. `500` for 5.00 usd); at least 1.")
    currency: str = strawberry.field(description="The ISO 4217 currency code, e.g. `usd`: the discount applies only to prices in it.")


@strawberry.input(description="A share off.")
class PercentageDiscountInput:
    basis_points: int = strawberry.field(description="The share off in basis points, 1 to 10000 (1250 = 12.5 %, 10000 = everything).")


@strawberry.input(description="A new discount. Set exactly one of `fixed` and `percentage`.")
class CreateDiscountInput:
    name: str = strawberry.field(description="The name shown to customers; 1 to 256 characters.")
    fixed: FixedDiscountInput | None = strawberry.field(default=None, description="An amount off (or set `percentage`).")
    percentage: PercentageDiscountInput | None = strawberry.field(default=None, description="A share off (or set `fixed`).")
    duration: DiscountDuration = strawberry.field(description="For how long it applies to a subscription.")
    duration_in_months: int | None = strawberry.field(default=None, description="For `REPEATING` (and only then): 1 to 999 months.")
    code: str | None = strawberry.field(default=None, description="A code customers type: 1 to 64 letters, digits, '-' or '_', unique in the organization without regard to case. Omit for none.")
    max_redemptions: int | None = strawberry.field(default=None, description="How many times it may be redeemed in all (1 or more); omit for no limit.")
    starts_at: datetime | None = strawberry.field(default=None, description="It applies from then; omit for at once.")
    ends_at: datetime | None = strawberry.field(default=None, description="It no longer applies from then (after `startsAt`); omit for no end.")
    product_ids: list[strawberry.ID] = strawberry.field(default_factory=list, description="Restrict it to these products (at most 100); empty: every product.")
    idempotency_key: str | None = idempotency_key_field()

    def to_draft(self) -> DiscountDraft:
        issues: list[FieldIssue] = []
        chosen = [kind for kind in (self.fixed, self.percentage) if kind is not None]
        if len(chosen) != 1:
            issues.append(FieldIssue((), "set exactly one of `fixed` and `percentage`", "one_of"))
        ids = product_ids(issues, self.product_ids)
        if issues:
            raise ValidationFailed(issues)
        draft = DiscountDraft(
            name=self.name,
            type="fixed" if self.fixed is not None else "percentage",
            duration=self.duration.value,
            duration_in_months=self.duration_in_months,
            code=self.code,
            max_redemptions=self.max_redemptions,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            product_ids=ids,
        )
        if self.fixed is not None:
            draft.amount, draft.currency = int(self.fixed.amount), self.fixed.currency
        if self.percentage is not None:
            draft.basis_points = self.percentage.basis_points
        return draft


@strawberry.input(description="Changes to a discount; only the fields given change. Its terms (type, amount, percentage, duration) cannot change.")
class UpdateDiscountInput:
    id: strawberry.ID = strawberry.field(description="The discount's id.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New name; cannot be null.")
    code: str | None = strawberry.field(default=strawberry.UNSET, description="New code; null removes it.")
    max_redemptions: int | None = strawberry.field(default=strawberry.UNSET, description="New limit, at least the redemptions so far; null for no limit.")
    starts_at: datetime | None = strawberry.field(default=strawberry.UNSET, description="New start; null: at once.")
    ends_at: datetime | None = strawberry.field(default=strawberry.UNSET, description="New end; null: no end.")
    product_ids: list[strawberry.ID] | None = strawberry.field(default=strawberry.UNSET, description="The products it is restricted to, replacing the list; empty or null: every product.")

    def changes(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "name": self.name,
            "code": self.code,
            "max_redemptions": self.max_redemptions,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
        }
        changes = {key: value for key, value in values.items() if value is not strawberry.UNSET}
        if self.product_ids is not strawberry.UNSET:
            issues: list[FieldIssue] = []
            changes["product_ids"] = product_ids(issues, self.product_ids or [])
            if issues:
                raise ValidationFailed(issues)
        return changes


@strawberry.input(description="Which discount to archive.")
class ArchiveDiscountInput:
    id: strawberry.ID = strawberry.field(description="The discount's id.")


@strawberry.input(description="Which discounts to list; every condition given must hold.")
class DiscountFilter:
    is_archived: bool | None = strawberry.field(default=None, description="Only archived (true) or only active (false) discounts; both if omitted.")
    type: DiscountType | None = strawberry.field(default=None, description="Only discounts of this type.")
    code: str | None = strawberry.field(default=None, description="Only the discount with this code (any case).")
    search: str | None = strawberry.field(default=None, description="Only discounts whose name or code contains this text (any case).")

    def to_data(self) -> DiscountFilterData:
        return DiscountFilterData(
            is_archived=self.is_archived, type=self.type.value if self.type else None, code=self.code, search=self.search
        )


@strawberry.input(description="How discounts are sorted: by creation time; ties are broken by id.")
class DiscountOrder:
    direction: OrderDirection = strawberry.field(default=OrderDirection.ASC, description="The direction.")


@strawberry.input(description="A tax rate to set (it replaces the one set for the same place).")
class SetTaxRateInput:
    country: str | None = strawberry.field(default=None, description="ISO 3166-1 alpha-2 code, e.g. `US`; omit to set the default rate.")
    state: str | None = strawberry.field(default=None, description="A subdivision code of `country`, e.g. `CA`; omit for the whole country.")
    basis_points: int = strawberry.field(description="The rate in basis points, 0 to 10000 (825 = 8.25 %).")


@strawberry.input(description="Which tax rate to remove.")
class RemoveTaxRateInput:
    country: str | None = strawberry.field(default=None, description="ISO 3166-1 alpha-2 code; omit for the default rate.")
    state: str | None = strawberry.field(default=None, description="A subdivision code of `country`; omit for the whole country.")
