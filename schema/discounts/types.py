"""GraphQL types of discounts and tax rates."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry

from app.kit.ids import to_global_id
from app.models.discount import Discount as DiscountModel
from app.models.discount import TaxRate as TaxRateModel
from schema.catalog.loaders import product_by_id
from schema.catalog.types import Product
from schema.discounts.loaders import product_ids_of_discount
from schema.kit.loaders import loader
from schema.kit.money import Money
from schema.kit.relay import Connection, Node


@strawberry.enum(description="What a discount takes off.")
class DiscountType(enum.Enum):
    FIXED = strawberry.enum_value("fixed", description="An amount of one currency (`amount`).")
    PERCENTAGE = strawberry.enum_value("percentage", description="A share of the subtotal (`basisPoints`).")


@strawberry.enum(description="For how long a discount applies to a subscription.")
class DiscountDuration(enum.Enum):
    ONCE = strawberry.enum_value("once", description="The first order only.")
    FOREVER = strawberry.enum_value("forever", description="Every order.")
    REPEATING = strawberry.enum_value("repeating", description="The orders of the first `durationInMonths` months.")


@strawberry.type(description="A discount on a purchase: an amount or a share off the subtotal, maybe behind a code, limited in uses and time.")
class Discount(Node):
    model: strawberry.Private[DiscountModel]
    name: str = strawberry.field(description="The name shown to customers.")
    type: DiscountType = strawberry.field(description="Fixed amount or percentage; fixed at creation.")
    amount: Money | None = strawberry.field(description="What a fixed discount takes off; null for a percentage.")
    basis_points: int | None = strawberry.field(description="A percentage discount's share in basis points (1250 = 12.5 %); null for a fixed one.")
    duration: DiscountDuration = strawberry.field(description="For how long it applies to a subscription; fixed at creation.")
    duration_in_months: int | None = strawberry.field(description="For `REPEATING`: how many months; null otherwise.")
    code: str | None = strawberry.field(description="The code customers type (compared without case); null if none.")
    max_redemptions: int | None = strawberry.field(description="How many times it may be redeemed in all; null for no limit.")
    redemptions_count: int = strawberry.field(description="How many times it was redeemed.")
    starts_at: datetime | None = strawberry.field(description="It applies from then; null: from its creation.")
    ends_at: datetime | None = strawberry.field(description="It no longer applies from then; null: no end.")
    is_archived: bool = strawberry.field(description="Whether it is archived: no more redemptions, kept for history.")
    archived_at: datetime | None = strawberry.field(description="When it was archived; null while active.")
    created_at: datetime = strawberry.field(description="When it was created.")
    modified_at: datetime = strawberry.field(description="When it was last changed.")

    @strawberry.field(description="The ids of the products it is restricted to; empty: every product.")
    async def product_ids(self, info: strawberry.Info) -> list[strawberry.ID]:
        ids = await loader(info, product_ids_of_discount).load(self.model.id)
        return [strawberry.ID(to_global_id("Product", product_id)) for product_id in ids]

    @strawberry.field(description="The products it is restricted to; empty: every product.")
    async def products(self, info: strawberry.Info) -> list[Product] | None:
        ids = await loader(info, product_ids_of_discount).load(self.model.id)
        rows = await loader(info, product_by_id).load_many(ids)
        return [Product.from_model(row) for row in rows if row is not None]

    @classmethod
    def from_model(cls, row: DiscountModel) -> "Discount":
        return cls(
            model=row,
            id=strawberry.ID(to_global_id("Discount", row.id)),
            name=row.name,
            type=DiscountType(row.type),
            amount=Money.of(row.amount, row.currency) if row.currency else None,
            basis_points=row.basis_points,
            duration=DiscountDuration(row.duration),
            duration_in_months=row.duration_in_months,
            code=row.code,
            max_redemptions=row.max_redemptions,
            redemptions_count=row.redemptions_count,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            is_archived=row.archived_at is not None,
            archived_at=row.archived_at,
            created_at=row.created_at,
            modified_at=row.modified_at,
        )


DiscountConnection = Connection[Discount]


@strawberry.type(description="The tax rate charged to customers billed in a country (and maybe a state of it), or the default rate.")
class TaxRate:
    country: str | None = strawberry.field(description="ISO 3166-1 alpha-2 code, e.g. `US`; null for the default rate (every other place).")
    state: str | None = strawberry.field(description="A subdivision code of the country, e.g. `CA`; null for the whole country.")
    basis_points: int = strawberry.field(description="The rate in basis points: 825 is 8.25 %.")
    modified_at: datetime = strawberry.field(description="When it was last set.")

    @classmethod
    def from_model(cls, row: TaxRateModel) -> "TaxRate":
        return cls(country=row.country, state=row.state, basis_points=row.basis_points, modified_at=row.modified_at)
