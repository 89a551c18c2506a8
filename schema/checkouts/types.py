"""GraphQL type of checkouts."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from app.checkouts.service import due_now
from app.kit.ids import to_global_id
from app.models.checkout import Checkout as CheckoutModel
from schema.checkouts.errors import CheckoutStatus
from schema.kit.address import Address
from schema.kit.loaders import loader
from schema.kit.relay import Connection, Node
from schema.kit.scalars import BigInt


@strawberry.enum(description="Who takes a checkout's payment.")
class CheckoutProcessor(enum.Enum):
    STRIPE = strawberry.enum_value("stripe", description="Stripe: the customer pays by card (a Stripe payment method).")
    MANUAL = strawberry.enum_value("manual", description="Offline: the merchant confirms the checkout when it has the money (bank transfer, cash).")


@strawberry.enum(description="Whether the buyer is a person or a business.")
class CheckoutCustomerType(enum.Enum):
    INDIVIDUAL = strawberry.enum_value("individual", description="A person.")
    BUSINESS = strawberry.enum_value("business", description="A company: it needs a billing name and address; the buyer becomes its owner.")


@strawberry.type(
    description="A customer buying one product price. Amounts are minor units of `currency`, computed by Kassa: "
    "net = subtotal - discount, total = net + tax; `dueNow` is what confirming charges (0 during a trial or for a free price)."
)
class Checkout(Node):
    model: strawberry.Private[CheckoutModel]
    status: CheckoutStatus = strawberry.field(description="Where it stands.")
    client_secret: str = strawberry.field(
        description="The customer's browser's credential for this checkout alone: it sends `Authorization: Bearer <clientSecret>` "
        "to read it (`checkoutSession`), fill it in (`updateCheckoutSession`) and pay (`confirmCheckoutSession`)."
    )
    payment_processor: CheckoutProcessor = strawberry.field(description="Who takes the payment.")
    expires_at: datetime = strawberry.field(description="An open checkout expires then.")
    product_id: strawberry.ID | None = strawberry.field(description="The product bought; null for a wallet top-up.")
    product_price_id: strawberry.ID | None = strawberry.field(description="The price bought; null for a wallet top-up.")
    wallet_top_up: bool = strawberry.field(
        description="A wallet top-up (`createWalletTopUpCheckout`): it buys `totalAmount` of `currency` into the customer's wallet, credited when paid."
    )
    currency: str = strawberry.field(description="The price's currency, lowercase ISO 4217.")
    seats: int | None = strawberry.field(description="How many seats, for a per-seat price.")
    amount: BigInt | None = strawberry.field(description="The amount chosen for a pay-what-you-want price.")
    subtotal_amount: BigInt = strawberry.field(description="The price (times the seats).")
    discount_amount: BigInt = strawberry.field(description="The discount, at most the subtotal.")
    net_amount: BigInt = strawberry.field(description="subtotal - discount.")
    tax_amount: BigInt = strawberry.field(description="The tax on the net amount, at the rate of the billing country.")
    total_amount: BigInt = strawberry.field(description="net + tax.")
    due_now: BigInt = strawberry.field(description="What confirming charges: the total, or 0 during a trial.")
    tax_basis_points: int = strawberry.field(description="The tax rate applied, in basis points (825 = 8.25 %).")
    discount_id: strawberry.ID | None = strawberry.field(description="The discount applied.")
    trial_days: int | None = strawberry.field(description="The free trial it starts, in days; null for none.")
    customer_id: strawberry.ID | None = strawberry.field(description="The customer (set when confirmed, or given at creation).")
    customer_type: CheckoutCustomerType | None = strawberry.field(description="For a new customer: person or business.")
    customer_email: str | None = strawberry.field(description="For a new customer: the email.")
    customer_name: str | None = strawberry.field(description="For a new customer: the name.")
    customer_billing_name: str | None = strawberry.field(description="For a new customer: the name on invoices.")
    customer_billing_address: Address | None = strawberry.field(description="For a new customer: the billing address (its country sets the tax rate).")
    customer_tax_id: str | None = strawberry.field(description="For a new customer: a tax id.")
    order_id: strawberry.ID | None = strawberry.field(description="The order, once it succeeded.")
    payment_attempts: int = strawberry.field(description="How many times it was confirmed.")
    payment_client_secret: str | None = strawberry.field(
        description="While `CONFIRMED` and the customer must authenticate the payment (3-D Secure): the Stripe PaymentIntent's client "
        "secret, for Stripe.js `handleNextAction` in the customer's browser; Stripe's event then completes the checkout. Null otherwise."
    )
    failure_code: str | None = strawberry.field(description="Why the last payment failed (the processor's decline code).")
    failure_message: str | None = strawberry.field(description="The same, for the customer to read.")
    confirmed_at: datetime | None = strawberry.field(description="When it was last confirmed.")
    succeeded_at: datetime | None = strawberry.field(description="When it succeeded.")
    metadata: JSON = strawberry.field(description="The merchant's key-value data; copied to the order.")
    created_at: datetime = strawberry.field(description="When it was created.")
    modified_at: datetime = strawberry.field(description="When it last changed.")

    @strawberry.field(description="The product's name (readable with the client secret); \"Wallet top-up\" for a wallet top-up.")
    async def product_name(self, info: strawberry.Info) -> str:
        from schema.catalog.loaders import product_by_id

        if self.model.product_id is None:
            return "Wallet top-up"
        row = await loader(info, product_by_id).load(self.model.product_id)
        return row.name if row is not None else ""

    @strawberry.field(description="The order, once it succeeded.")
    async def order(self, info: strawberry.Info) -> Annotated["Order", strawberry.lazy("schema.orders.types")] | None:
        from schema.orders.loaders import order_by_id
        from schema.orders.types import Order

        if self.model.order_id is None:
            return None
        row = await loader(info, order_by_id).load(self.model.order_id)
        return Order.from_model(row) if row is not None else None

    @strawberry.field(description="The customer, once known.")
    async def customer(self, info: strawberry.Info) -> Annotated["Customer", strawberry.lazy("schema.customers.types")] | None:
        from schema.customers.loaders import customer_by_id
        from schema.customers.types import customer_from_model

        if self.model.customer_id is None:
            return None
        row = await loader(info, customer_by_id).load(self.model.customer_id)
        return customer_from_model(row) if row is not None else None

    @classmethod
    def from_model(cls, row: CheckoutModel) -> "Checkout":
        def gid(type_name: str, value) -> strawberry.ID | None:
            return strawberry.ID(to_global_id(type_name, value)) if value is not None else None

        return cls(
            model=row,
            id=strawberry.ID(to_global_id("Checkout", row.id)),
            status=CheckoutStatus(row.status),
            client_secret=row.client_secret,
            payment_processor=CheckoutProcessor(row.payment_processor),
            expires_at=row.expires_at,
            product_id=gid("Product", row.product_id),
            product_price_id=gid("ProductPrice", row.product_price_id),
            wallet_top_up=row.wallet_top_up,
            currency=row.currency,
            seats=row.seats,
            amount=BigInt(row.custom_amount) if row.custom_amount is not None else None,
            subtotal_amount=BigInt(row.subtotal_amount),
            discount_amount=BigInt(row.discount_amount),
            net_amount=BigInt(row.net_amount),
            tax_amount=BigInt(row.tax_amount),
            total_amount=BigInt(row.total_amount),
            due_now=BigInt(due_now(row)),
            tax_basis_points=row.tax_basis_points,
            discount_id=gid("Discount", row.discount_id),
            trial_days=row.trial_days,
            customer_id=gid("Customer", row.customer_id),
            customer_type=CheckoutCustomerType(row.customer_type) if row.customer_type else None,
            customer_email=row.customer_email,
            customer_name=row.customer_name,
            customer_billing_name=row.customer_billing_name,
            customer_billing_address=Address.of(row.customer_billing_address),
            customer_tax_id=row.customer_tax_id,
            order_id=gid("Order", row.order_id),
            payment_attempts=row.payment_attempts,
            payment_client_secret=row.payment_client_secret,
            failure_code=row.failure_code,
            failure_message=row.failure_message,
            confirmed_at=row.confirmed_at,
            succeeded_at=row.succeeded_at,
            metadata=row.user_metadata,
            created_at=row.created_at,
            modified_at=row.modified_at,
        )


CheckoutConnection = Connection[Checkout]
