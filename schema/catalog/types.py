"""GraphQL types of the catalog: `Product` and the `ProductPrice` interface with its five kinds."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from app.kit.ids import to_global_id
from app.models import PriceType as PriceTypeModel
from app.models import Product as ProductModel
from app.models import ProductPrice as ProductPriceModel
from schema.catalog.loaders import prices_of_product, product_by_id
from schema.kit.loaders import loader
from schema.kit.money import Money
from schema.kit.scalars import BigInt
from schema.kit.relay import Connection, Node
from schema.meters.loaders import meter_by_id


@strawberry.enum(description="How often a recurring product bills.")
class RecurringInterval(enum.Enum):
    MONTH = strawberry.enum_value("month", description="Every month.")
    YEAR = strawberry.enum_value("year", description="Every year.")


@strawberry.enum(description="How a price computes what the customer pays.")
class ProductPriceType(enum.Enum):
    FIXED = strawberry.enum_value("fixed", description="A set amount.")
    CUSTOM = strawberry.enum_value("custom", description="Pay what you want, within optional bounds.")
    FREE = strawberry.enum_value("free", description="Nothing to pay.")
    METERED_UNIT = strawberry.enum_value("metered_unit", description="An amount per unit of usage counted by a meter.")
    SEAT_UNIT = strawberry.enum_value("seat_unit", description="An amount per seat, with volume tiers.")


@strawberry.enum(description="How a metered price prices a period's units instead of one unit amount.")
class MeteredTierMode(enum.Enum):
    GRADUATED = strawberry.enum_value(
        "graduated", description="Each tier prices the units that fall in it (plus its flat amount once usage reaches it); the tiers add up."
    )
    VOLUME = strawberry.enum_value("volume", description="The tier the period's total falls in prices every unit (plus its flat amount).")
    PACKAGE = strawberry.enum_value("package", description="Every started package of `packageSize` units costs `packageAmount` (rounded up).")


@strawberry.type(description="One tier of a graduated or volume metered price.")
class MeteredTier:
    up_to: Decimal | None = strawberry.field(description="The tier's last unit (inclusive); null for the last, open-ended tier.")
    unit_amount: Decimal = strawberry.field(description="The price of one unit in the tier, in minor units (may be fractional).")
    flat_amount: Money = strawberry.field(description="Owed once usage reaches the tier (0: none).")


@strawberry.interface(
    description="One way to pay for a product. Prices are never edited: to change one, add its replacement "
    "and archive it (`createProductPrice` with `archivePriceIds`)."
)
class ProductPrice(Node):
    model: strawberry.Private[ProductPriceModel]
    type: ProductPriceType = strawberry.field(description="The kind of price; the same as the object's type name.")
    currency: str = strawberry.field(description="The ISO 4217 currency code, lowercase, e.g. `usd`.")
    is_archived: bool = strawberry.field(description="Whether the price is archived: kept for history, no longer sold.")
    archived_at: datetime | None = strawberry.field(description="When the price was archived; null while it is active.")
    created_at: datetime = strawberry.field(description="When the price was created.")
    modified_at: datetime = strawberry.field(description="When the price was last changed (archived).")

    @strawberry.field(description="The id of the product this price belongs to.")
    def product_id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Product", self.model.product_id))

    @strawberry.field(description="The product this price belongs to.")
    async def product(self, info: strawberry.Info) -> Annotated["Product", strawberry.lazy("schema.catalog.types")]:
        return Product.from_model(await loader(info, product_by_id).load(self.model.product_id))


@strawberry.type(description="A set amount, paid once (one-time product) or every period (recurring product).")
class FixedPrice(ProductPrice):
    amount: Money = strawberry.field(description="What the customer pays.")


@strawberry.type(description="Pay what you want: the customer chooses the amount, at least `minimumAmount`.")
class CustomPrice(ProductPrice):
    minimum_amount: Money = strawberry.field(description="The least the customer may pay (0 allows paying nothing).")
    maximum_amount: Money | None = strawberry.field(description="The most the customer may pay; null for no limit.")
    preset_amount: Money | None = strawberry.field(description="The amount suggested at checkout; null for none.")


@strawberry.type(description="Nothing to pay.")
class FreePrice(ProductPrice):
    pass


@strawberry.type(description="An amount per unit of usage, counted by a meter and billed per period.")
class MeteredUnitPrice(ProductPrice):
    unit_amount: Decimal | None = strawberry.field(
        description="The price of one unit in minor units of `currency`; may be fractional, e.g. `\"0.05\"` "
        "(a twentieth of a cent). Serialized as a string. Null for a tiered price (`tierMode`)."
    )
    tier_mode: MeteredTierMode | None = strawberry.field(description="How tiers price the units; null: `unitAmount` prices every unit.")
    tiers: list[MeteredTier] | None = strawberry.field(description="The tiers of a GRADUATED or VOLUME price, `upTo` ascending; null otherwise.")
    package_size: BigInt | None = strawberry.field(description="The units of one package of a PACKAGE price; null otherwise.")
    package_amount: Money | None = strawberry.field(description="The price of one package of a PACKAGE price; null otherwise.")
    cap_amount: Money | None = strawberry.field(description="The most a period's usage can cost, whatever the usage; null for no cap.")
    wallet_enabled: bool = strawberry.field(
        description="Whether usage is paid from the customer's prepaid wallet: what the balance does not cover is not charged."
    )

    @strawberry.field(description="The global id of the meter that counts the units.")
    def meter_id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Meter", self.model.meter_id))

    @strawberry.field(description="The meter that counts the units (it may have been archived since).")
    async def meter(self, info: strawberry.Info) -> Annotated["Meter", strawberry.lazy("schema.meters.types")] | None:
        from schema.meters.types import Meter

        return Meter.from_model(await loader(info, meter_by_id).load(self.model.meter_id))


@strawberry.type(description="One volume tier of a seat price: every seat costs the tier's price when the seat count falls in it.")
class SeatTier:
    min_seats: int = strawberry.field(description="The smallest seat count of this tier (the first tier starts at 1).")
    max_seats: int | None = strawberry.field(description="The largest seat count of this tier; null for the last, open-ended tier.")
    price_per_seat: Money = strawberry.field(description="The price of each seat when the seat count falls in this tier.")


@strawberry.type(
    description="An amount per seat. Volume tiers: the tier the seat count falls in prices every seat. "
    "A seat price is its product's only active price."
)
class SeatUnitPrice(ProductPrice):
    tiers: list[SeatTier] = strawberry.field(description="The tiers, contiguous from 1 seat; the last one is open-ended.")


PRICE_TYPES = (FixedPrice, CustomPrice, FreePrice, MeteredUnitPrice, SeatUnitPrice)


def price_from_model(row: ProductPriceModel) -> ProductPrice:
    common = dict(
        model=row,
        id=strawberry.ID(to_global_id("ProductPrice", row.id)),
        type=ProductPriceType(row.type),
        currency=row.currency,
        is_archived=row.archived_at is not None,
        archived_at=row.archived_at,
        created_at=row.created_at,
        modified_at=row.modified_at,
    )
    if row.type == PriceTypeModel.fixed.value:
        return FixedPrice(amount=Money.of(row.amount, row.currency), **common)
    if row.type == PriceTypeModel.custom.value:
        return CustomPrice(
            minimum_amount=Money.of(row.minimum_amount, row.currency),
            maximum_amount=Money.of(row.maximum_amount, row.currency),
            preset_amount=Money.of(row.preset_amount, row.currency),
            **common,
        )
    if row.type == PriceTypeModel.metered_unit.value:
        return MeteredUnitPrice(
            unit_amount=row.unit_amount,  # the Decimal scalar writes it in its shortest form
            cap_amount=Money.of(row.cap_amount, row.currency),
            wallet_enabled=row.wallet_enabled,
            tier_mode=MeteredTierMode(row.tier_mode) if row.tier_mode else None,
            tiers=[
                MeteredTier(
                    up_to=Decimal(tier["up_to"]) if tier.get("up_to") is not None else None,
                    unit_amount=Decimal(tier["unit_amount"]),
                    flat_amount=Money.of(int(tier.get("flat_amount") or 0), row.currency),
                )
                for tier in row.tiers
            ]
            if row.tiers is not None
            else None,
            package_size=BigInt(row.package_size) if row.package_size is not None else None,
            package_amount=Money.of(row.package_amount, row.currency),
            **common,
        )
    if row.type == PriceTypeModel.seat_unit.value:
        return SeatUnitPrice(
            tiers=[
                SeatTier(
                    min_seats=tier["min_seats"],
                    max_seats=tier["max_seats"],
                    price_per_seat=Money.of(tier["price_per_seat"], row.currency),
                )
                for tier in row.seat_tiers or []
            ],
            **common,
        )
    return FreePrice(**common)


@strawberry.type(description="Something you sell: recurring (monthly or yearly) or one-time, with its prices.")
class Product(Node):
    model: strawberry.Private[ProductModel]
    name: str = strawberry.field(description="The name shown to customers.")
    description: str | None = strawberry.field(description="A longer description shown to customers.")
    recurring_interval: RecurringInterval | None = strawberry.field(
        description="How often the product bills; null for a one-time product. Fixed at creation."
    )
    is_recurring: bool = strawberry.field(description="Whether the product is a subscription (it has a recurring interval).")
    trial_days: int | None = strawberry.field(description="The free trial offered at checkout, in days; null for none.")
    metadata: JSON = strawberry.field(description="The merchant's own key-value data (at most 50 keys).")
    is_archived: bool = strawberry.field(description="Whether the product is archived: no longer sold, kept for history.")
    archived_at: datetime | None = strawberry.field(description="When the product was archived; null while it is on sale.")
    created_at: datetime = strawberry.field(description="When the product was created.")
    modified_at: datetime = strawberry.field(description="When the product was last changed.")

    @strawberry.field(description="The product's prices: active ones first (oldest first), then archived ones if asked for.")
    async def prices(
        self,
        info: strawberry.Info,
        include_archived: Annotated[
            bool, strawberry.argument(description="Also list archived prices (after the active ones).")
        ] = False,
    ) -> list[ProductPrice]:
        rows = await loader(info, prices_of_product).load(self.model.id)
        return [price_from_model(row) for row in rows if include_archived or row.archived_at is None]

    @classmethod
    def from_model(cls, row: ProductModel) -> "Product":
        return cls(
            model=row,
            id=strawberry.ID(to_global_id("Product", row.id)),
            name=row.name,
            description=row.description,
            recurring_interval=RecurringInterval(row.recurring_interval) if row.recurring_interval else None,
            is_recurring=row.recurring_interval is not None,
            trial_days=row.trial_days,
            metadata=row.user_metadata,
            is_archived=row.archived_at is not None,
            archived_at=row.archived_at,
            created_at=row.created_at,
            modified_at=row.modified_at,
        )


ProductConnection = Connection[Product]
