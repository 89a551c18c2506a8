"""GraphQL types of orders, their items, refunds and transactions."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from app.kit.ids import to_global_id
from app.models.order import Order as OrderModel
from app.models.order import OrderItem as OrderItemModel
from app.models.order import Refund as RefundModel
from app.models.order import Transaction as TransactionModel
from schema.kit.address import Address
from schema.kit.loaders import loader
from schema.kit.relay import Connection, Node
from schema.kit.scalars import BigInt
from schema.orders.loaders import items_of_order, order_by_id, refunds_of_order, transactions_of_order


@strawberry.enum(description="Where an order stands.")
class OrderStatus(enum.Enum):
    PENDING = strawberry.enum_value("pending", description="Created, not paid yet.")
    PAID = strawberry.enum_value("paid", description="Paid (or nothing was due).")
    REFUNDED = strawberry.enum_value("refunded", description="Paid, then refunded in full.")
    PARTIALLY_REFUNDED = strawberry.enum_value("partially_refunded", description="Paid, then refunded in part.")
    VOID = strawberry.enum_value("void", description="Never to be paid.")


@strawberry.enum(description="Why an order was made.")
class BillingReason(enum.Enum):
    PURCHASE = strawberry.enum_value("purchase", description="A one-time product bought at checkout.")
    SUBSCRIPTION_CREATE = strawberry.enum_value("subscription_create", description="The first order of a subscription, at checkout.")
    SUBSCRIPTION_CYCLE = strawberry.enum_value("subscription_cycle", description="A subscription's renewal.")
    SUBSCRIPTION_UPDATE = strawberry.enum_value("subscription_update", description="A change of a subscription billed at once.")
    WALLET_TOP_UP = strawberry.enum_value(
        "wallet_top_up", description="Money into the customer's wallet (a top-up checkout or an auto top-up); refunded with `refundWalletTopUp`."
    )


@strawberry.enum(description="Who moved the money.")
class PaymentProcessor(enum.Enum):
    STRIPE = strawberry.enum_value("stripe", description="Stripe.")
    MANUAL = strawberry.enum_value("manual", description="Recorded by the merchant (offline payment), or nothing was due.")


@strawberry.enum(description="Where a refund stands.")
class RefundStatus(enum.Enum):
    PENDING = strawberry.enum_value("pending", description="Asked for; the processor has not finished it.")
    SUCCEEDED = strawberry.enum_value("succeeded", description="The money went back.")
    FAILED = strawberry.enum_value("failed", description="The processor could not refund.")
    CANCELED = strawberry.enum_value("canceled", description="Canceled before it was made.")


@strawberry.enum(description="Why money is refunded.")
class RefundReason(enum.Enum):
    DUPLICATE = strawberry.enum_value("duplicate", description="The customer paid twice.")
    FRAUDULENT = strawberry.enum_value("fraudulent", description="The payment was fraudulent.")
    CUSTOMER_REQUEST = strawberry.enum_value("customer_request", description="The customer asked.")
    SERVICE_DISRUPTION = strawberry.enum_value("service_disruption", description="The service was not delivered as promised.")
    SATISFACTION_GUARANTEE = strawberry.enum_value("satisfaction_guarantee", description="A money-back guarantee.")
    OTHER = strawberry.enum_value("other", description="Another reason (also refunds made at the processor).")


@strawberry.enum(description="A kind of money movement in the transaction ledger.")
class TransactionType(enum.Enum):
    PAYMENT = strawberry.enum_value("payment", description="The customer paid (positive).")
    PROCESSOR_FEE = strawberry.enum_value("processor_fee", description="The processor's fee (negative).")
    REFUND = strawberry.enum_value("refund", description="Money given back (negative).")
    DISPUTE = strawberry.enum_value("dispute", description="A chargeback took money back (negative).")
    DISPUTE_REVERSAL = strawberry.enum_value("dispute_reversal", description="A won dispute brought it back (positive).")
    BALANCE = strawberry.enum_value("balance", description="The customer's balance applied to an order (positive).")


@strawberry.type(description="One line of an order: `quantity` x `unitAmount` = `amount`, in minor units of the order's currency.")
class OrderItem:
    id: strawberry.ID = strawberry.field(description="The line's id.")
    label: str = strawberry.field(description="What was bought, as the invoice shows it.")
    price_id: strawberry.ID | None = strawberry.field(description="The product price billed; null for a line without one.")
    quantity: int = strawberry.field(description="How many (seats; 1 otherwise).")
    unit_amount: BigInt = strawberry.field(description="The amount of one, in minor units.")
    amount: BigInt = strawberry.field(description="`quantity` x `unitAmount`.")
    proration: bool = strawberry.field(description="Whether the line is a proration.")

    @classmethod
    def from_model(cls, row: OrderItemModel) -> "OrderItem":
        return cls(
            id=strawberry.ID(to_global_id("OrderItem", row.id)),
            label=row.label,
            price_id=strawberry.ID(to_global_id("ProductPrice", row.product_price_id)) if row.product_price_id else None,
            quantity=row.quantity,
            unit_amount=BigInt(row.unit_amount),
            amount=BigInt(row.amount),
            proration=row.proration,
        )


@strawberry.type(description="Money given back on an order.")
class Refund(Node):
    model: strawberry.Private[RefundModel]
    status: RefundStatus = strawberry.field(description="Where it stands.")
    reason: RefundReason = strawberry.field(description="Why.")
    comment: str | None = strawberry.field(description="The merchant's note.")
    amount: BigInt = strawberry.field(description="The amount given back, in minor units (tax included).")
    tax_amount: BigInt = strawberry.field(description="Of which tax: the order's tax in proportion, so the parts of all refunds add up to the order's tax.")
    currency: str = strawberry.field(description="The order's currency.")
    revoke_benefits: bool = strawberry.field(description="Whether the customer's benefits of the order are to be revoked.")
    processor: PaymentProcessor = strawberry.field(description="Who gave the money back.")
    processor_refund_id: str = strawberry.field(description="The processor's id of the refund (Stripe: `re_...`).")
    created_at: datetime = strawberry.field(description="When it was made.")

    @strawberry.field(description="The refunded order.")
    async def order(self, info: strawberry.Info) -> Annotated["Order", strawberry.lazy("schema.orders.types")] | None:
        row = await loader(info, order_by_id).load(self.model.order_id)
        return Order.from_model(row) if row is not None else None

    @classmethod
    def from_model(cls, row: RefundModel) -> "Refund":
        return cls(
            model=row,
            id=strawberry.ID(to_global_id("Refund", row.id)),
            status=RefundStatus(row.status),
            reason=RefundReason(row.reason),
            comment=row.comment,
            amount=BigInt(row.amount),
            tax_amount=BigInt(row.tax_amount),
            currency=row.currency,
            revoke_benefits=row.revoke_benefits,
            processor=PaymentProcessor(row.processor),
            processor_refund_id=row.processor_refund_id,
            created_at=row.created_at,
        )


@strawberry.type(description="One money movement in the transaction ledger, signed from the merchant's side. Append-only: corrections are new transactions.")
class Transaction(Node):
    model: strawberry.Private[TransactionModel]
    type: TransactionType = strawberry.field(description="What moved.")
    amount: BigInt = strawberry.field(description="Signed minor units: positive in, negative out.")
    tax_amount: BigInt = strawberry.field(description="Of which tax (same sign).")
    currency: str = strawberry.field(description="The currency.")
    processor: PaymentProcessor = strawberry.field(description="Who moved it.")
    processor_id: str = strawberry.field(description="The processor's id of what moved it (charge, refund, dispute).")
    description: str | None = strawberry.field(description="A note.")
    order_id: strawberry.ID = strawberry.field(description="The order it belongs to.")
    customer_id: strawberry.ID = strawberry.field(description="The customer.")
    refund_id: strawberry.ID | None = strawberry.field(description="The refund, for a `REFUND` transaction.")
    created_at: datetime = strawberry.field(description="When it was recorded.")

    @strawberry.field(description="The order it belongs to.")
    async def order(self, info: strawberry.Info) -> Annotated["Order", strawberry.lazy("schema.orders.types")] | None:
        row = await loader(info, order_by_id).load(self.model.order_id)
        return Order.from_model(row) if row is not None else None

    @classmethod
    def from_model(cls, row: TransactionModel) -> "Transaction":
        return cls(
            model=row,
            id=strawberry.ID(to_global_id("Transaction", row.id)),
            type=TransactionType(row.type),
            amount=BigInt(row.amount),
            tax_amount=BigInt(row.tax_amount),
            currency=row.currency,
            processor=PaymentProcessor(row.processor),
            processor_id=row.processor_id,
            description=row.description,
            order_id=strawberry.ID(to_global_id("Order", row.order_id)),
            customer_id=strawberry.ID(to_global_id("Customer", row.customer_id)),
            refund_id=strawberry.ID(to_global_id("Refund", row.refund_id)) if row.refund_id else None,
            created_at=row.created_at,
        )


@strawberry.type(
    description="A billing event: what a customer owes and paid for a purchase or a subscription period. "
    "Amounts are minor units of `currency`: net = subtotal - discount, total = net + tax, due = max(0, total - applied balance)."
)
class Order(Node):
    model: strawberry.Private[OrderModel]
    invoice_number: int = strawberry.field(description="The invoice number: 1, 2, 3... per organization, without gaps.")
    status: OrderStatus = strawberry.field(description="Where it stands.")
    billing_reason: BillingReason = strawberry.field(description="Why it was made.")
    customer_id: strawberry.ID = strawberry.field(description="The customer's id.")
    product_id: strawberry.ID | None = strawberry.field(description="The product's id.")
    checkout_id: strawberry.ID | None = strawberry.field(description="The checkout it came from.")
    subscription_id: strawberry.ID | None = strawberry.field(description="The subscription it bills (its first period, a renewal); null for a one-time purchase.")
    discount_id: strawberry.ID | None = strawberry.field(description="The discount applied.")
    currency: str = strawberry.field(description="The currency, lowercase ISO 4217.")
    subtotal_amount: BigInt = strawberry.field(description="The items' sum.")
    discount_amount: BigInt = strawberry.field(description="The discount, at most the subtotal.")
    net_amount: BigInt = strawberry.field(description="subtotal - discount.")
    tax_amount: BigInt = strawberry.field(description="The tax on the net amount.")
    total_amount: BigInt = strawberry.field(description="net + tax.")
    applied_balance_amount: BigInt = strawberry.field(description="The customer's balance applied.")
    due_amount: BigInt = strawberry.field(description="What the customer pays: max(0, total - applied balance).")
    refunded_amount: BigInt = strawberry.field(description="What was refunded so far (tax included).")
    refunded_tax_amount: BigInt = strawberry.field(description="Of which tax.")
    refundable_amount: BigInt = strawberry.field(description="What may still be refunded.")
    balance_amount: BigInt = strawberry.field(description="The sum of its transactions: what the merchant holds for it after fees, refunds and disputes.")
    tax_basis_points: int = strawberry.field(description="The tax rate applied, in basis points.")
    tax_country: str | None = strawberry.field(description="The billing country the tax rate is for.")
    billing_name: str | None = strawberry.field(description="The name on the invoice.")
    billing_address: Address | None = strawberry.field(description="The address on the invoice.")
    processor: PaymentProcessor = strawberry.field(description="Who took the payment.")
    payment_id: str | None = strawberry.field(description="The processor's payment (Stripe: the PaymentIntent `pi_...`).")
    paid_at: datetime | None = strawberry.field(description="When it was paid.")
    payment_attempts: int = strawberry.field(description="How many times its payment was tried (a renewal's retries count).")
    next_payment_attempt_at: datetime | None = strawberry.field(description="When dunning tries its payment again; null when no retry is planned.")
    last_payment_failure: str | None = strawberry.field(description="Why its last payment failed (the processor's code; `hard:` when no retry with that card can succeed).")
    metadata: JSON = strawberry.field(description="The merchant's key-value data (from the checkout).")
    created_at: datetime = strawberry.field(description="When it was created.")
    modified_at: datetime = strawberry.field(description="When it last changed.")

    @strawberry.field(description="Its lines.")
    async def items(self, info: strawberry.Info) -> list[OrderItem]:
        return [OrderItem.from_model(row) for row in await loader(info, items_of_order).load(self.model.id)]

    @strawberry.field(description="Its refunds, oldest first.")
    async def refunds(self, info: strawberry.Info) -> list[Refund]:
        return [Refund.from_model(row) for row in await loader(info, refunds_of_order).load(self.model.id)]

    @strawberry.field(description="Its transactions, oldest first: they reconcile with its amounts to the cent.")
    async def transactions(self, info: strawberry.Info) -> list[Transaction]:
        return [Transaction.from_model(row) for row in await loader(info, transactions_of_order).load(self.model.id)]

    @strawberry.field(description="The customer.")
    async def customer(self, info: strawberry.Info) -> Annotated["Customer", strawberry.lazy("schema.customers.types")] | None:
        from schema.customers.loaders import customer_by_id
        from schema.customers.types import customer_from_model

        row = await loader(info, customer_by_id).load(self.model.customer_id)
        return customer_from_model(row) if row is not None else None

    @strawberry.field(description="The subscription it bills; null for a one-time purchase.")
    async def subscription(self, info: strawberry.Info) -> Annotated["Subscription", strawberry.lazy("schema.subscriptions.types")] | None:
        from schema.subscriptions.loaders import subscription_by_id
        from schema.subscriptions.types import Subscription

        if self.model.subscription_id is None:
            return None
        row = await loader(info, subscription_by_id).load(self.model.subscription_id)
        return Subscription.from_model(row) if row is not None else None

    @classmethod
    def from_model(cls, row: OrderModel) -> "Order":
        def gid(type_name: str, value) -> strawberry.ID | None:
            return strawberry.ID(to_global_id(type_name, value)) if value is not None else None

        return cls(
            model=row,
            id=strawberry.ID(to_global_id("Order", row.id)),
            invoice_number=row.invoice_number,
            status=OrderStatus(row.status),
            billing_reason=BillingReason(row.billing_reason),
            customer_id=strawberry.ID(to_global_id("Customer", row.customer_id)),
            product_id=gid("Product", row.product_id),
            checkout_id=gid("Checkout", row.checkout_id),
            subscription_id=gid("Subscription", row.subscription_id),
            discount_id=gid("Discount", row.discount_id),
            currency=row.currency,
            subtotal_amount=BigInt(row.subtotal_amount),
            discount_amount=BigInt(row.discount_amount),
            net_amount=BigInt(row.net_amount),
            tax_amount=BigInt(row.tax_amount),
            total_amount=BigInt(row.total_amount),
            applied_balance_amount=BigInt(row.applied_balance_amount),
            due_amount=BigInt(row.due_amount),
            refunded_amount=BigInt(row.refunded_amount),
            refunded_tax_amount=BigInt(row.refunded_tax_amount),
            refundable_amount=BigInt(row.refundable_amount),
            balance_amount=BigInt(row.balance_amount),
            tax_basis_points=row.tax_basis_points,
            tax_country=row.tax_country,
            billing_name=row.billing_name,
            billing_address=Address.of(row.billing_address),
            processor=PaymentProcessor(row.processor),
            payment_id=row.payment_id,
            paid_at=row.paid_at,
            payment_attempts=row.payment_attempts,
            next_payment_attempt_at=row.next_payment_attempt_at,
            last_payment_failure=row.last_payment_failure,
            metadata=row.user_metadata,
            created_at=row.created_at,
            modified_at=row.modified_at,
        )


OrderConnection = Connection[Order]
TransactionConnection = Connection[Transaction]
