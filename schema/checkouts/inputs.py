"""Inputs of the checkout mutations and queries."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.scalars import JSON

from app.checkouts.repository import CheckoutFilter as CheckoutFilterData
from app.checkouts.service import CheckoutDraft, CustomerData
from app.kit.errors import FieldIssue, NotFound, ValidationFailed
from app.kit.ids import parse_global_id
from schema.checkouts.errors import CheckoutStatus
from schema.checkouts.types import CheckoutCustomerType, CheckoutProcessor
from schema.customers.inputs import AddressInput
from schema.kit.idempotency import idempotency_key_field
from schema.kit.scalars import BigInt

_CUSTOMER_FIELDS = {
    "type": "type",
    "email": "email",
    "name": "name",
    "billing_name": "billing_name",
    "billing_address": "billing_address",
    "tax_id": "tax_id",
    "external_id": "external_id",
}


def _id(issues: list[FieldIssue], path: str, value: strawberry.ID | None, type_name: str) -> Any:
    if value is None:
        return None
    try:
        return parse_global_id(value, type_name)
    except NotFound:
        issues.append(FieldIssue((path,), f"is not a {type_name} id", "not_found"))
        return None


@strawberry.input(description="Who is buying, when it is not an existing customer. Fields may be given now or later (`updateCheckout`, `updateCheckoutSession`); only the fields given change.")
class CheckoutCustomerInput:
    type: CheckoutCustomerType | None = strawberry.field(default=strawberry.UNSET, description="Person or business; a person by default.")
    email: str | None = strawberry.field(default=strawberry.UNSET, description="The email; required to confirm.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="The name.")
    billing_name: str | None = strawberry.field(default=strawberry.UNSET, description="The name on invoices; required for a business.")
    billing_address: AddressInput | None = strawberry.field(default=strawberry.UNSET, description="The billing address; required for a business. Its country (and state) set the tax rate.")
    tax_id: str | None = strawberry.field(default=strawberry.UNSET, description="A tax id (e.g. a VAT number).")
    external_id: str | None = strawberry.field(default=strawberry.UNSET, description="The merchant's id for the new customer.")

    def to_data(self) -> tuple[CustomerData, list[str]]:
        data = CustomerData()
        given = []
        for name in _CUSTOMER_FIELDS:
            value = getattr(self, name)
            if value is strawberry.UNSET:
                continue
            given.append(name)
            if name == "type":
                value = value.value if value is not None else None
            elif name == "billing_address":
                value = value.to_dict() if value is not None else None
            setattr(data, name, value)
        return data, given


@strawberry.input(description="A new checkout for one price of a product: for an existing customer (`customerId`) or a new one (`customer`, maybe filled in later by the customer).")
class CreateCheckoutInput:
    product_price_id: strawberry.ID = strawberry.field(description="The price to buy: a product's fixed, pay-what-you-want, free or per-seat price.")
    customer_id: strawberry.ID | None = strawberry.field(default=None, description="An existing customer (or give `customer`).")
    customer: CheckoutCustomerInput | None = strawberry.field(default=None, description="A new customer's data (or give `customerId`).")
    seats: int | None = strawberry.field(default=None, description="For a per-seat price (required then): how many seats.")
    amount: BigInt | None = strawberry.field(default=None, description="For a pay-what-you-want price: the amount, within its bounds; its preset (or minimum) by default.")
    discount_code: str | None = strawberry.field(default=None, description="A discount code (any case).")
    discount_id: strawberry.ID | None = strawberry.field(default=None, description="A discount, by id (or give `discountCode`).")
    allow_trial: bool = strawberry.field(default=True, description="Start the product's free trial, if it has one.")
    payment_processor: CheckoutProcessor = strawberry.field(default=CheckoutProcessor.STRIPE, description="Who takes the payment.")
    expires_in_seconds: int | None = strawberry.field(default=None, description="How long it stays open: 60 seconds to 7 days; 1 hour by default.")
    metadata: JSON | None = strawberry.field(default=None, description="Your key-value data, copied to the order.")
    idempotency_key: str | None = idempotency_key_field()

    def to_draft(self) -> CheckoutDraft:
        issues: list[FieldIssue] = []
        price_id = _id(issues, "productPriceId", self.product_price_id, "ProductPrice")
        customer_id = _id(issues, "customerId", self.customer_id, "Customer")
        discount_id = _id(issues, "discountId", self.discount_id, "Discount")
        if issues:
            raise ValidationFailed(issues)
        return CheckoutDraft(
            product_price_id=price_id,
            customer_id=customer_id,
            customer=self.customer.to_data()[0] if self.customer is not None else None,
            seats=self.seats,
            amount=int(self.amount) if self.amount is not None else None,
            discount_code=self.discount_code,
            discount_id=discount_id,
            allow_trial=self.allow_trial,
            payment_processor=self.payment_processor.value,
            expires_in_seconds=self.expires_in_seconds,
            metadata=self.metadata if self.metadata is not None else {},
        )


def _changes(customer: CheckoutCustomerInput | None, seats: Any, amount: Any, discount_code: Any) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if customer is not strawberry.UNSET and customer is not None:
        data, given = customer.to_data()
        changes["customer"] = data
        changes["customer_fields"] = given
    if seats is not strawberry.UNSET:
        changes["seats"] = seats
    if amount is not strawberry.UNSET:
        changes["amount"] = int(amount) if amount is not None else None
    if discount_code is not strawberry.UNSET:
        changes["discount_code"] = discount_code
    return changes


@strawberry.input(description="Changes to an open checkout (the merchant's); only the fields given change.")
class UpdateCheckoutInput:
    id: strawberry.ID = strawberry.field(description="The checkout's id.")
    customer_id: strawberry.ID | None = strawberry.field(default=strawberry.UNSET, description="Buy for this existing customer; null: a new customer again.")
    customer: CheckoutCustomerInput | None = strawberry.field(default=strawberry.UNSET, description="The new customer's data (the fields given).")
    seats: int | None = strawberry.field(default=strawberry.UNSET, description="How many seats (per-seat prices).")
    amount: BigInt | None = strawberry.field(default=strawberry.UNSET, description="The amount of a pay-what-you-want price.")
    discount_code: str | None = strawberry.field(default=strawberry.UNSET, description="A discount code; null removes the discount.")
    metadata: JSON | None = strawberry.field(default=strawberry.UNSET, description="Your key-value data, replacing it.")

    def changes(self) -> dict[str, Any]:
        changes = _changes(self.customer, self.seats, self.amount, self.discount_code)
        if self.customer_id is not strawberry.UNSET:
            issues: list[FieldIssue] = []
            changes["customer_id"] = _id(issues, "customerId", self.customer_id, "Customer")
            if issues:
                raise ValidationFailed(issues)
        if self.metadata is not strawberry.UNSET:
            changes["metadata"] = self.metadata
        return changes


@strawberry.input(description="Confirm (pay for) a checkout as the merchant: a card the merchant's own page collected, or an offline payment (a `MANUAL` checkout).")
class ConfirmCheckoutInput:
    id: strawberry.ID = strawberry.field(description="The checkout's id.")
    payment_method: str | None = strawberry.field(default=None, description="A Stripe payment method id (`pm_...`); required when something is due on a Stripe checkout.")
    idempotency_key: str | None = idempotency_key_field()


@strawberry.input(description="Changes the customer's browser makes to its checkout; only the fields given change.")
class UpdateCheckoutSessionInput:
    customer: CheckoutCustomerInput | None = strawberry.field(default=strawberry.UNSET, description="The buyer's data (the fields given).")
    seats: int | None = strawberry.field(default=strawberry.UNSET, description="How many seats (per-seat prices).")
    amount: BigInt | None = strawberry.field(default=strawberry.UNSET, description="The amount of a pay-what-you-want price.")
    discount_code: str | None = strawberry.field(default=strawberry.UNSET, description="A discount code; null removes the discount.")

    def changes(self) -> dict[str, Any]:
        return _changes(self.customer, self.seats, self.amount, self.discount_code)


@strawberry.input(description="Pay for the checkout from the customer's browser.")
class ConfirmCheckoutSessionInput:
    payment_method: str | None = strawberry.field(default=None, description="A Stripe payment method id (`pm_...`, from Stripe.js); required when something is due.")
    idempotency_key: str | None = idempotency_key_field()


@strawberry.input(description="Which checkouts to list; every condition given must hold.")
class CheckoutFilter:
    status: CheckoutStatus | None = strawberry.field(default=None, description="Only checkouts in this status.")
    customer_id: strawberry.ID | None = strawberry.field(default=None, description="Only this customer's checkouts.")
    product_id: strawberry.ID | None = strawberry.field(default=None, description="Only checkouts of this product.")

    def to_data(self) -> CheckoutFilterData:
        return CheckoutFilterData(
            status=self.status.value if self.status else None,
            customer_id=parse_global_id(self.customer_id, "Customer") if self.customer_id else None,
            product_id=parse_global_id(self.product_id, "Product") if self.product_id else None,
        )


@strawberry.input(description="A checkout for money into a customer's wallet: the customer pays it like any checkout; the wallet is credited when it is paid.")
class CreateWalletTopUpCheckoutInput:
    customer_id: strawberry.ID = strawberry.field(description="The customer whose wallet is topped up.")
    currency: str = strawberry.field(description="The wallet's currency (ISO 4217, e.g. `usd`); the wallet is opened on first use.")
    amount: BigInt = strawberry.field(description="The amount in minor units, within the organization's bounds (`walletMinimumTopUp` to `walletMaximumTopUp`). Not taxed.")
    payment_processor: CheckoutProcessor = strawberry.field(description="Who takes the payment: `STRIPE` (a card) or `MANUAL` (the merchant confirms an offline payment).")
    expires_in_seconds: int | None = strawberry.field(default=None, description="How long it stays open: 60 to 604800 seconds; an hour by default.")
    metadata: JSON | None = strawberry.field(default=None, description="The merchant's key-value data; copied to the order.")
    idempotency_key: str | None = idempotency_key_field()
