"""GraphQL inputs of the catalog.

Ids inside an input (a meter, prices to archive) are decoded here; one that is not an id of the
expected type is a validation error on its field, reported inside the mutation's result.
"""

from __future__ import annotations

import enum
import uuid
from decimal import Decimal
from typing import Any

import strawberry
from strawberry.scalars import JSON

from app.catalog.service import MeteredTierDraft, PriceDraft, ProductDraft, SeatTierDraft
from app.kit.errors import FieldIssue, NotFound, ValidationFailed
from app.kit.ids import parse_global_id
from app.models import PriceType
from schema.catalog.types import MeteredTierMode, RecurringInterval
from schema.customers.inputs import OrderDirection
from schema.kit.idempotency import idempotency_key_field
from schema.kit.scalars import BigInt

CURRENCY_DESCRIPTION = "The ISO 4217 currency code, e.g. `usd` (the default). All active prices of a product share one currency."


def _decode_id(issues: list[FieldIssue], path: tuple[str, ...], value: str, type_name: str) -> uuid.UUID | None:
    try:
        return parse_global_id(value, type_name)
    except NotFound:
        issues.append(FieldIssue(path, f"is not a {type_name} id", "not_found"))
        return None


@strawberry.input(description="A set amount.")
class FixedPriceInput:
    amount: BigInt = strawberry.field(description="What the customer pays, in minor units (e.g. `1999` for 19.99 usd); at least 1.")
    currency: str = strawberry.field(default="usd", description=CURRENCY_DESCRIPTION)


@strawberry.input(description="Pay what you want: the customer chooses the amount within the bounds.")
class CustomPriceInput:
    minimum_amount: BigInt = strawberry.field(description="The least the customer may pay, in minor units; 0 or more.")
    maximum_amount: BigInt | None = strawberry.field(default=None, description="The most the customer may pay; at least `minimumAmount`. Omit for no limit.")
    preset_amount: BigInt | None = strawberry.field(default=None, description="The amount suggested at checkout, between the bounds.")
    currency: str = strawberry.field(default="usd", description=CURRENCY_DESCRIPTION)


@strawberry.input(description="Nothing to pay.")
class FreePriceInput:
    currency: str = strawberry.field(default="usd", description=CURRENCY_DESCRIPTION)


@strawberry.input(description="One tier of a graduated or volume metered price.")
class MeteredTierInput:
    up_to: Decimal | None = strawberry.field(
        default=None,
        description="The last unit of the tier (inclusive), greater than the previous tier's; null for the last tier only "
        "(open-ended). Up to 12 decimal places.",
    )
    unit_amount: Decimal = strawberry.field(description="The price of one unit in the tier, in minor units; 0 or more, at most 12 decimal places.")
    flat_amount: BigInt | None = strawberry.field(
        default=None, description="A flat amount owed once usage reaches the tier, in minor units; 0 or more. Omit for none."
    )


@strawberry.input(
    description="An amount per unit of usage counted by a meter. Recurring products only. Set `unitAmount`, or `tierMode` with "
    "`tiers` (graduated, volume) or `packageSize` and `packageAmount` (package)."
)
class MeteredUnitPriceInput:
    meter_id: strawberry.ID = strawberry.field(description="The meter that counts the units; one of yours, not archived.")
    unit_amount: Decimal | None = strawberry.field(
        default=None,
        description="The price of one unit in minor units, greater than 0, at most 12 decimal places, "
        "e.g. `\"0.05\"` (a twentieth of a cent). A string is safest; a JSON number is read as written. Required without `tierMode`, "
        "not allowed with one.",
    )
    tier_mode: MeteredTierMode | None = strawberry.field(default=None, description="Price the units by tiers or packages instead of one unit amount.")
    tiers: list[MeteredTierInput] | None = strawberry.field(
        default=None, description="GRADUATED and VOLUME: 1 to 20 tiers, `upTo` ascending, the last one open-ended."
    )
    package_size: BigInt | None = strawberry.field(default=None, description="PACKAGE: the units of one package; at least 1.")
    package_amount: BigInt | None = strawberry.field(
        default=None, description="PACKAGE: the price of one package in minor units; at least 1. Usage is rounded up to whole packages."
    )
    cap_amount: BigInt | None = strawberry.field(default=None, description="The most a period's usage can cost, in minor units; at least 1. Omit for no cap.")
    wallet_enabled: bool = strawberry.field(default=False, description="Pay usage from the customer's prepaid wallet.")
    currency: str = strawberry.field(default="usd", description=CURRENCY_DESCRIPTION)


@strawberry.input(description="One volume tier of a seat price.")
class SeatTierInput:
    min_seats: int = strawberry.field(description="The smallest seat count of the tier: 1 for the first, the previous tier's `maxSeats` + 1 after.")
    max_seats: int | None = strawberry.field(default=None, description="The largest seat count of the tier; null for the last tier only.")
    price_per_seat: BigInt = strawberry.field(description="The price of each seat in this tier, in minor units; 0 or more.")


@strawberry.input(description="An amount per seat with volume tiers. A seat price must be its product's only active price.")
class SeatUnitPriceInput:
    tiers: list[SeatTierInput] = strawberry.field(
        description="1 to 20 tiers, contiguous from 1 seat, without gaps or overlaps; the last one open-ended."
    )
    currency: str = strawberry.field(default="usd", description=CURRENCY_DESCRIPTION)


@strawberry.input(
    one_of=True,
    description="A new price: set exactly one field, the price type. A product has at most one fixed, custom, free "
    "or seat price, plus any number of metered prices (each on its own meter).",
)
class PriceInput:
    fixed: FixedPriceInput | None = strawberry.field(default=strawberry.UNSET, description="A set amount.")
    custom: CustomPriceInput | None = strawberry.field(default=strawberry.UNSET, description="Pay what you want.")
    free: FreePriceInput | None = strawberry.field(default=strawberry.UNSET, description="Nothing to pay.")
    metered_unit: MeteredUnitPriceInput | None = strawberry.field(default=strawberry.UNSET, description="An amount per unit of usage.")
    seat_unit: SeatUnitPriceInput | None = strawberry.field(default=strawberry.UNSET, description="An amount per seat, with volume tiers.")

    def to_draft(self, issues: list[FieldIssue], path: tuple[str, ...]) -> PriceDraft | None:
        members = {
            PriceType.fixed.value: ("fixed", self.fixed),
            PriceType.custom.value: ("custom", self.custom),
            PriceType.free.value: ("free", self.free),
            PriceType.metered_unit.value: ("meteredUnit", self.metered_unit),
            PriceType.seat_unit.value: ("seatUnit", self.seat_unit),
        }
        chosen = [(type_, name, value) for type_, (name, value) in members.items() if value is not strawberry.UNSET and value is not None]
        if len(chosen) != 1:
            issues.append(FieldIssue(path, "set exactly one price type", "one_of"))
            return None
        type_, name, value = chosen[0]
        draft = PriceDraft(type=type_, currency=value.currency)
        if isinstance(value, FixedPriceInput):
            draft.amount = value.amount
        elif isinstance(value, CustomPriceInput):
            draft.minimum_amount, draft.maximum_amount, draft.preset_amount = value.minimum_amount, value.maximum_amount, value.preset_amount
        elif isinstance(value, MeteredUnitPriceInput):
            draft.meter_id = _decode_id(issues, (*path, name, "meterId"), value.meter_id, "Meter")
            draft.unit_amount = value.unit_amount
            draft.cap_amount = value.cap_amount
            draft.wallet_enabled = value.wallet_enabled
            draft.tier_mode = value.tier_mode.value if value.tier_mode is not None else None
            draft.tiers = [MeteredTierDraft(t.up_to, t.unit_amount, t.flat_amount) for t in value.tiers or []]
            draft.package_size, draft.package_amount = value.package_size, value.package_amount
        elif isinstance(value, SeatUnitPriceInput):
            draft.seat_tiers = [SeatTierDraft(t.min_seats, t.max_seats, t.price_per_seat) for t in value.tiers]
        return draft


def _raise_if(issues: list[FieldIssue]) -> None:
    if issues:
        raise ValidationFailed(issues)


@strawberry.input(description="A new product with its first prices.")
class CreateProductInput:
    name: str = strawberry.field(description="The name shown to customers; 1 to 256 characters.")
    description: str | None = strawberry.field(default=None, description="A longer description; at most 5,000 characters.")
    recurring_interval: RecurringInterval | None = strawberry.field(
        default=None, description="How often the product bills; omit (or null) for a one-time product. Cannot change later."
    )
    metadata: JSON | None = strawberry.field(
        default=None, description="Key-value data: at most 50 keys of 1-40 characters; strings up to 500 characters, numbers or booleans."
    )
    prices: list[PriceInput] = strawberry.field(description="One or more prices (at most 20), all in one currency.")
    trial_days: int | None = strawberry.field(
        default=None, description="A free trial offered at checkout, 1 to 730 days; recurring products only. Omit for none."
    )
    idempotency_key: str | None = idempotency_key_field()

    def to_draft(self) -> ProductDraft:
        issues: list[FieldIssue] = []
        prices = [price.to_draft(issues, ("prices", str(i))) for i, price in enumerate(self.prices)]
        _raise_if(issues)
        return ProductDraft(
            name=self.name,
            description=self.description,
            recurring_interval=self.recurring_interval.value if self.recurring_interval else None,
            metadata=self.metadata if self.metadata is not None else {},
            prices=[p for p in prices if p is not None],
            trial_days=self.trial_days,
        )


@strawberry.input(description="Changes to a product. Omitted fields stay as they are. The recurring interval cannot change.")
class UpdateProductInput:
    id: strawberry.ID = strawberry.field(description="The product's id.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New name; cannot be null.")
    description: str | None = strawberry.field(default=strawberry.UNSET, description="New description; null clears it.")
    metadata: JSON | None = strawberry.field(default=strawberry.UNSET, description="New metadata; replaces the whole object.")
    trial_days: int | None = strawberry.field(
        default=strawberry.UNSET, description="New free trial length in days (recurring products); null removes the trial. Checkouts made before keep theirs."
    )

    def changes(self) -> dict[str, Any]:
        values = {"name": self.name, "description": self.description, "metadata": self.metadata, "trial_days": self.trial_days}
        return {key: value for key, value in values.items() if value is not strawberry.UNSET}


@strawberry.input(description="Which product to archive.")
class ArchiveProductInput:
    id: strawberry.ID = strawberry.field(description="The product's id.")


@strawberry.input(description="Which product to put back on sale.")
class UnarchiveProductInput:
    id: strawberry.ID = strawberry.field(description="The product's id.")


@strawberry.input(description="A new price for a product, optionally replacing some of its active prices in the same step.")
class CreateProductPriceInput:
    product_id: strawberry.ID = strawberry.field(description="The product's id; it must not be archived.")
    price: PriceInput = strawberry.field(description="The new price.")
    archive_price_ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description="Active prices of the same product to archive in the same step: how a price is changed "
        "(e.g. replace the fixed price with another one). The rules apply to the prices that remain active.",
    )

    def to_draft(self) -> tuple[PriceDraft, list[uuid.UUID]]:
        issues: list[FieldIssue] = []
        draft = self.price.to_draft(issues, ("price",))
        archive_ids = [_decode_id(issues, ("archivePriceIds", str(i)), value, "ProductPrice") for i, value in enumerate(self.archive_price_ids or [])]
        _raise_if(issues)
        assert draft is not None
        return draft, [i for i in archive_ids if i is not None]


@strawberry.input(description="Which price to archive.")
class ArchiveProductPriceInput:
    id: strawberry.ID = strawberry.field(description="The price's id.")


@strawberry.input(description="Conditions a product must meet to be listed; all given conditions apply.")
class ProductFilter:
    is_archived: bool | None = strawberry.field(default=None, description="Only archived (true) or only active (false) products; both if omitted.")
    is_recurring: bool | None = strawberry.field(default=None, description="Only recurring (true) or only one-time (false) products.")
    recurring_interval: RecurringInterval | None = strawberry.field(default=None, description="Only products billed at this interval.")
    search: str | None = strawberry.field(default=None, description="Text found in the name, case-insensitive.")


@strawberry.enum(description="What products are sorted by.")
class ProductOrderField(enum.Enum):
    CREATED_AT = strawberry.enum_value("created_at", description="Creation time.")
    NAME = strawberry.enum_value("name", description="Name.")


@strawberry.input(description="How products are sorted; ties are broken by id.")
class ProductOrder:
    field: ProductOrderField = strawberry.field(default=ProductOrderField.CREATED_AT, description="The sort key.")
    direction: OrderDirection = strawberry.field(default=OrderDirection.ASC, description="The direction.")
