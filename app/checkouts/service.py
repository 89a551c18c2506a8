"""Checkouts: create, change, confirm (pay), expire, and complete from the processor's events.

A checkout is for one base price of a product (fixed, pay-what-you-want, free, or per seat),
for an existing customer or for the customer its fields describe (created when it is
confirmed; an existing customer of the same email and type is reused). Its amounts (subtotal,
discount, net, tax, total) are computed here, by app/discounts/amounts.py, whenever what they
depend on changes, and stored. The merchant drives it with its token; the customer's browser with
the checkout's client secret (app/auth/service.py), which reaches this checkout only.

Confirming takes the checkout's row lock without waiting (a second confirmation running at the
same time gets `CheckoutBusy`, never a second charge), counts the discount's redemption, and
asks the processor for the payment inside a savepoint: a declined payment rolls the redemption
back and leaves the checkout `failed` (it may be confirmed again with another card until it
expires); a succeeded one creates the paid order in the same transaction. The processor's
idempotency key is the checkout and its attempt number, so a retry after a crash between the
processor's answer and the commit gets the same payment back, not a new one; and Stripe's
`payment_intent.succeeded` event completes a checkout whose request never came back
(`complete_from_payment`). Nothing is due (a free price, a full discount, a trial): it succeeds
without payment.

A wallet top-up checkout (`create_wallet_top_up_checkout`) has no product: an existing customer
buys an amount (within the organization's bounds) into its wallet in one currency, untaxed
(stored value: its use is what is sold). It is confirmed like any other; when it is paid, its
order (`wallet_top_up`, one line "Wallet top-up") is marked paid and the wallet credited in the
same transaction, once (the checkout's row lock and status, and one credit per order).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field, fields
from datetime import timedelta
from typing import Any, Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import new_checkout_secret
from app.auth.subject import Subject
from app.checkouts import repository
from app.checkouts.errors import CheckoutBusy, CheckoutNotOpen
from app.checkouts.payloads import checkout_data
from app.checkouts.repository import CheckoutFilter
from app.customers import service as customers
from app.customers.service import CustomerDraft
from app.discounts import service as discounts
from app.discounts.amounts import DiscountTerms, compute_amounts
from app.discounts.errors import DiscountNotApplicable
from app.discounts.tax_rates import tax_rate_for
from app.kit import clock
from app.kit.batches import in_order
from app.kit.errors import Conflict, FieldIssue, NotFound, ValidationFailed
from app.kit.money import Money, check_amount
from app.kit.pagination import Page, check_page_size
from app.kit.tenancy import TenantScope
from app.kit.validation import check_address, check_email, check_metadata, check_text
from app.members.service import MemberDraft
from app.models import Customer, CustomerType, PriceType, Product, ProductPrice
from app.models.checkout import Checkout, CheckoutStatus, PaymentProcessorName
from app.models.order import BillingReason
from app.models.webhook import WebhookEventType
from app.members import repository as members_repository
from app.orders import service as orders
from app.orders.service import OrderAmounts, OrderLine
from app.payments import methods
from app.payments.manual import ManualProcessor
from app.models.product import seat_price
from app.subscriptions import service as subscriptions
from app.payments.processors import PaymentMethodRefused, PaymentProcessor
from app.wallets import service as wallets
from app.wallets import top_ups as wallet_top_ups
from app.webhooks import service as webhooks

__all__ = ["CheckoutDraft", "CheckoutFilter", "CustomerData", "confirm_checkout", "create_checkout", "create_wallet_top_up_checkout", "update_checkout"]

logger = logging.getLogger("kassa.checkouts")

DEFAULT_EXPIRES_IN = timedelta(hours=1)
MIN_EXPIRES_IN = timedelta(minutes=1)
MAX_EXPIRES_IN = timedelta(days=7)
MAX_SEATS = 100_000
PAYMENT_METHOD_MAX_LENGTH = 255
EXPIRE_BATCH = 200
SETTLE_AFTER = timedelta(minutes=10)  # Stripe's events come within seconds; this is for the lost ones
SETTLE_BATCH = 50
BASE_TYPES = {PriceType.fixed.value, PriceType.custom.value, PriceType.free.value, PriceType.seat_unit.value}


@dataclass
class CustomerData:
    """Who is buying, when it is not an existing customer (any field may come later)."""

    type: str | None = None
    email: str | None = None
    name: str | None = None
    billing_name: str | None = None
    billing_address: dict[str, Any] | None = None
    tax_id: str | None = None
    external_id: str | None = None


@dataclass
class CheckoutDraft:
    product_price_id: uuid.UUID
    customer_id: uuid.UUID | None = None
    customer: CustomerData | None = None
    seats: int | None = None
    amount: int | None = None  # pay-what-you-want prices
    discount_code: str | None = None
    discount_id: uuid.UUID | None = None
    allow_trial: bool = True
    payment_processor: str = PaymentProcessorName.stripe.value
    expires_in_seconds: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


# -- reads ---------------------------------------------------------------------------------


def _visible(subject: Subject, checkout: Checkout | None) -> Checkout:
    """A client secret reaches its own checkout only: another is "not found"."""
    if checkout is None or (subject.checkout_id is not None and checkout.id != subject.checkout_id):
        raise NotFound("Checkout not found")
    return checkout


async def get_checkout(session: AsyncSession, subject: Subject, checkout_id: uuid.UUID) -> Checkout:
    return _visible(subject, await repository.get(session, subject.scope, checkout_id))


async def list_checkouts(
    session: AsyncSession, subject: Subject, filter: CheckoutFilter, *, descending: bool = True, first: int = 50, after: str | None = None, max_page_size: int = 100
) -> Page[Checkout]:
    check_page_size(first, max_page_size)
    return await repository.list_page(session, subject.scope, filter, descending=descending, first=first, after=after)


async def count_checkouts(session: AsyncSession, subject: Subject, filter: CheckoutFilter) -> int:
    return await repository.count(session, subject.scope, filter)


async def load_checkouts(session: AsyncSession, scope: TenantScope, ids: list[uuid.UUID]) -> list[Checkout | None]:
    return in_order(await repository.get_many(session, scope, ids), ids)


# -- pricing -------------------------------------------------------------------------------


def _unit_amount(price: ProductPrice, checkout: Checkout) -> int:
    if price.type == PriceType.fixed.value:
        return int(price.amount or 0)
    if price.type == PriceType.custom.value:
        return int(checkout.custom_amount or 0)
    if price.type == PriceType.seat_unit.value:
        return seat_price(price, checkout.seats or 1) or 0
    return 0


def _billing_address(checkout: Checkout, customer: Customer | None) -> dict[str, Any] | None:
    """The address that sets the tax and goes on the order: the one given on the checkout (what
    the buyer typed, what the amounts shown were computed with), else its customer's."""
    if checkout.customer_billing_address:
        return checkout.customer_billing_address
    return customer.billing_address if customer is not None else None


async def _price_checkout(session: AsyncSession, scope: TenantScope, checkout: Checkout, price: ProductPrice, customer: Customer | None) -> None:
    """Compute and store the checkout's amounts: the price (times the seats), less the discount,
    plus the tax of the billing country (the customer's, or the one given for a new customer)."""
    unit = Money(_unit_amount(price, checkout), price.currency)
    terms = None
    if checkout.discount_id is not None:
        discount = await discounts.get_discount_in(session, scope, checkout.discount_id)
        terms = DiscountTerms.of(discount)
    address = _billing_address(checkout, customer) or {}
    rate = await tax_rate_for(session, scope, address.get("country"), address.get("state"))
    amounts = compute_amounts(unit, quantity=checkout.seats or 1, discount=terms, tax_basis_points=rate)
    checkout.currency = price.currency
    checkout.subtotal_amount = amounts.subtotal.amount
    checkout.discount_amount = amounts.discount_amount.amount
    checkout.net_amount = amounts.net_amount.amount
    checkout.tax_amount = amounts.tax_amount.amount
    checkout.total_amount = amounts.total_amount.amount
    checkout.tax_basis_points = rate


def due_now(checkout: Checkout) -> int:
    """What confirming charges: the total, or nothing during a trial."""
    return 0 if checkout.trial_days else checkout.total_amount


# -- validation ----------------------------------------------------------------------------


def _check_seats(issues: list[FieldIssue], price: ProductPrice, seats: Any) -> int | None:
    if price.type != PriceType.seat_unit.value:
        if seats is not None:
            issues.append(FieldIssue(("seats",), "only a per-seat price takes seats", "not_allowed"))
        return None
    if seats is None:
        issues.append(FieldIssue(("seats",), "is required for a per-seat price", "required"))
        return None
    if isinstance(seats, bool) or not isinstance(seats, int) or not 1 <= seats <= MAX_SEATS:
        issues.append(FieldIssue(("seats",), f"must be an integer from 1 to {MAX_SEATS}", "out_of_range"))
        return None
    if seat_price(price, seats) is None:
        issues.append(FieldIssue(("seats",), "no seat tier of this price holds that many seats", "out_of_range"))
        return None
    return seats


def _check_custom_amount(issues: list[FieldIssue], price: ProductPrice, amount: Any) -> int | None:
    if price.type != PriceType.custom.value:
        if amount is not None:
            issues.append(FieldIssue(("amount",), "only a pay-what-you-want price takes an amount", "not_allowed"))
        return None
    if amount is None:
        return price.preset_amount if price.preset_amount is not None else price.minimum_amount
    value = check_amount(issues, ("amount",), amount, minimum=0)
    if value is None:
        return None
    low, high = price.minimum_amount or 0, price.maximum_amount
    if value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f"at least {low}"
        issues.append(FieldIssue(("amount",), f"must be {bound} (minor units of {price.currency})", "out_of_range"))
    return value


def _check_customer_data(issues: list[FieldIssue], data: CustomerData, path: tuple[str, ...] = ("customer",)) -> CustomerData:
    if data.type is not None and data.type not in (CustomerType.individual.value, CustomerType.business.value):
        issues.append(FieldIssue((*path, "type"), "must be individual or business", "invalid_value"))
    return CustomerData(
        type=data.type,
        email=check_email(issues, (*path, "email"), data.email) if data.email is not None else None,
        name=check_text(issues, (*path, "name"), data.name, max_length=256),
        billing_name=check_text(issues, (*path, "billingName"), data.billing_name, max_length=256),
        billing_address=check_address(issues, (*path, "billingAddress"), data.billing_address),
        tax_id=check_text(issues, (*path, "taxId"), data.tax_id, max_length=64),
        external_id=check_text(issues, (*path, "externalId"), data.external_id, max_length=256),
    )


def _set_customer_data(checkout: Checkout, data: CustomerData, given: set[str] | None = None) -> None:
    for item in fields(CustomerData):
        if given is None or item.name in given:
            setattr(checkout, f"customer_{item.name}", getattr(data, item.name))


async def _check_discount(
    session: AsyncSession, issues: list[FieldIssue], scope: TenantScope, *, code: str | None, discount_id: uuid.UUID | None, product: Product, currency: str
) -> uuid.UUID | None:
    """The discount a code or an id names, if it applies to this product and currency now."""
    if code is None and discount_id is None:
        return None
    if code is not None and discount_id is not None:
        issues.append(FieldIssue(("discountCode",), "give a discount code or a discount id, not both", "not_allowed"))
        return None
    if code is not None:
        before = len(issues)
        code = check_text(issues, ("discountCode",), code, max_length=64, required=True)
        if len(issues) > before or code is None:
            return None
    try:
        discount = await discounts.find_by_code(session, scope, code) if code is not None else await discounts.get_discount_in(session, scope, discount_id)
    except NotFound:
        path = ("discountCode",) if code is not None else ("discountId",)
        issues.append(FieldIssue(path, "no such discount", "not_found"))
        return None
    restrictions = (await discounts.load_product_ids_of(session, scope, [discount.id]))[0]
    try:
        discounts.check_applicable(discount, product_ids=restrictions, product_id=product.id, currency=currency)
    except DiscountNotApplicable as exc:
        issues.append(_discount_issue(exc, ("discountCode",) if code is not None else ("discountId",)))
        return None
    return discount.id


def _discount_issue(exc: DiscountNotApplicable, path: tuple[str, ...] = ("discountCode",)) -> FieldIssue:
    """A discount that does not apply is a problem of the checkout's input: the customer can
    remove the code or type another (`discount_expired`, `discount_exhausted`, ...)."""
    return FieldIssue(path, exc.message, f"discount_{exc.reason.value}")


def _expires_in(issues: list[FieldIssue], seconds: Any) -> timedelta:
    if seconds is None:
        return DEFAULT_EXPIRES_IN
    low, high = int(MIN_EXPIRES_IN.total_seconds()), int(MAX_EXPIRES_IN.total_seconds())
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not low <= seconds <= high:
        issues.append(FieldIssue(("expiresInSeconds",), f"must be {low} to {high} seconds", "out_of_range"))
        return DEFAULT_EXPIRES_IN
    return timedelta(seconds=seconds)


def _check_processor(issues: list[FieldIssue], processor: str, stripe_usable: bool) -> None:
    """`stripe` or `manual`; Stripe only when this server can use it (configured, or nothing
    will be charged)."""
    if processor not in {p.value for p in PaymentProcessorName}:
        issues.append(FieldIssue(("paymentProcessor",), "must be stripe or manual", "invalid_value"))
    elif processor == PaymentProcessorName.stripe.value and not stripe_usable:
        issues.append(FieldIssue(("paymentProcessor",), "Stripe is not configured on this server (STRIPE_SECRET_KEY)", "not_configured"))


def _merchant_only(subject: Subject, what: str) -> None:
    if subject.checkout_id is not None:
        raise ValidationFailed([FieldIssue((what,), "only the merchant may set this", "not_allowed")])


# -- writes --------------------------------------------------------------------------------


async def _emit(session: AsyncSession, scope: TenantScope, checkout: Checkout, type: WebhookEventType) -> None:
    await webhooks.emit(session, scope, type, checkout_data(checkout))


async def create_checkout(session: AsyncSession, subject: Subject, draft: CheckoutDraft, *, stripe_configured: bool) -> Checkout:
    """A new open checkout with its amounts and client secret. Emits `checkout.created`."""
    _merchant_only(subject, "productPriceId")
    scope = subject.scope
    issues: list[FieldIssue] = []
    found = await repository.price_and_product(session, scope, draft.product_price_id)
    if found is None:
        raise ValidationFailed([FieldIssue(("productPriceId",), "no such price in this organization", "not_found")])
    price, product = found
    if price.is_archived or product.is_archived:
        issues.append(FieldIssue(("productPriceId",), "the price or its product is archived", "archived"))
    if price.type not in BASE_TYPES:
        issues.append(FieldIssue(("productPriceId",), "a metered price is billed by usage: check out the product's base price", "not_allowed"))
    seats = _check_seats(issues, price, draft.seats)
    custom_amount = _check_custom_amount(issues, price, draft.amount)
    _check_processor(issues, draft.payment_processor, stripe_configured or price.type == PriceType.free.value)
    customer = None
    if draft.customer_id is not None and draft.customer is not None:
        issues.append(FieldIssue(("customer",), "give an existing customer's id or a new customer's data, not both", "not_allowed"))
    elif draft.customer_id is not None:
        customer = await repository.get_customer(session, scope, draft.customer_id)
        if customer is None:
            issues.append(FieldIssue(("customerId",), "no such customer in this organization", "not_found"))
    data = _check_customer_data(issues, draft.customer) if draft.customer is not None else CustomerData()
    metadata = check_metadata(issues, ("metadata",), draft.metadata)
    expires_in = _expires_in(issues, draft.expires_in_seconds)
    if issues:
        raise ValidationFailed(issues)
    discount_id = await _check_discount(session, issues, scope, code=draft.discount_code, discount_id=draft.discount_id, product=product, currency=price.currency)
    if issues:
        raise ValidationFailed(issues)

    now = clock.now()
    checkout = Checkout(
        id=uuid.uuid4(),
        organization_id=scope.organization_id,
        status=CheckoutStatus.open.value,
        client_secret=new_checkout_secret(),
        payment_processor=draft.payment_processor,
        expires_at=now + expires_in,
        product_id=product.id,
        product_price_id=price.id,
        currency=price.currency,
        seats=seats,
        custom_amount=custom_amount,
        discount_id=discount_id,
        trial_days=product.trial_days if draft.allow_trial and product.is_recurring else None,
        customer_id=customer.id if customer is not None else None,
        payment_attempts=0,
        user_metadata=metadata,
    )
    _set_customer_data(checkout, data)
    await _price_checkout(session, scope, checkout, price, customer)
    session.add(checkout)
    await session.flush()
    await _emit(session, scope, checkout, WebhookEventType.checkout_created)
    return checkout


async def create_wallet_top_up_checkout(
    session: AsyncSession,
    subject: Subject,
    *,
    customer_id: uuid.UUID,
    currency: Any,
    amount: Any,
    payment_processor: str,
    expires_in_seconds: int | None = None,
    metadata: dict[str, Any] | None = None,
    stripe_configured: bool,
) -> Checkout:
    """A new open checkout for `amount` of `currency` into the customer's wallet (within the
    organization's top-up bounds: a ValidationFailed naming them). Emits `checkout.created`."""
    _merchant_only(subject, "customerId")
    scope = subject.scope
    code, value = await wallet_top_ups.check_top_up(session, scope, currency, amount)
    issues: list[FieldIssue] = []
    _check_processor(issues, payment_processor, stripe_configured)
    customer = await repository.get_customer(session, scope, customer_id)
    if customer is None:
        issues.append(FieldIssue(("customerId",), "no such customer in this organization", "not_found"))
    checked_metadata = check_metadata(issues, ("metadata",), metadata or {})
    expires_in = _expires_in(issues, expires_in_seconds)
    if issues:
        raise ValidationFailed(issues)
    assert customer is not None
    checkout = Checkout(
        id=uuid.uuid4(),
        organization_id=scope.organization_id,
        status=CheckoutStatus.open.value,
        client_secret=new_checkout_secret(),
        payment_processor=payment_processor,
        expires_at=clock.now() + expires_in,
        product_id=None,
        product_price_id=None,
        wallet_top_up=True,
        currency=code,
        customer_id=customer.id,
        payment_attempts=0,
        subtotal_amount=value,
        discount_amount=0,
        net_amount=value,
        tax_amount=0,
        total_amount=value,
        tax_basis_points=0,
        user_metadata=checked_metadata,
    )
    session.add(checkout)
    await session.flush()
    await _emit(session, scope, checkout, WebhookEventType.checkout_created)
    return checkout


def _check_changeable(checkout: Checkout) -> None:
    if checkout.status in (CheckoutStatus.open.value, CheckoutStatus.failed.value) and checkout.expires_at <= clock.now():
        raise CheckoutNotOpen(CheckoutStatus.expired)
    if not checkout.is_payable:
        raise CheckoutNotOpen(CheckoutStatus(checkout.status))


async def update_checkout(session: AsyncSession, subject: Subject, checkout_id: uuid.UUID, changes: Mapping[str, Any]) -> Checkout:
    """Apply the given fields (the customer's data, seats, the amount of a pay-what-you-want
    price, the discount code: null removes it) to an open checkout and price it again.
    The merchant may also set `customer_id` and `metadata`. Emits `checkout.updated`."""
    scope = subject.scope
    checkout = _visible(subject, await repository.lock(session, scope, checkout_id))
    _check_changeable(checkout)
    if checkout.wallet_top_up:
        raise ValidationFailed([FieldIssue(("id",), "a wallet top-up checkout cannot be changed: create another", "not_allowed")])
    found = await repository.price_and_product(session, scope, checkout.product_price_id)  # type: ignore[arg-type]
    assert found is not None
    price, product = found
    issues: list[FieldIssue] = []
    if "customer" in changes and changes["customer"] is not None:
        data: CustomerData = changes["customer"]
        given = {name for name in changes.get("customer_fields", [f.name for f in fields(CustomerData)])}
        _set_customer_data(checkout, _check_customer_data(issues, data), given)
    customer = None
    if "customer_id" in changes:
        _merchant_only(subject, "customerId")
        if changes["customer_id"] is None:
            checkout.customer_id = None
        else:
            customer = await repository.get_customer(session, scope, changes["customer_id"])
            if customer is None:
                issues.append(FieldIssue(("customerId",), "no such customer in this organization", "not_found"))
            else:
                checkout.customer_id = customer.id
    elif checkout.customer_id is not None:
        customer = await repository.get_customer(session, scope, checkout.customer_id)
    if "seats" in changes:
        checkout.seats = _check_seats(issues, price, changes["seats"])
    if "amount" in changes:
        checkout.custom_amount = _check_custom_amount(issues, price, changes["amount"])
    if "metadata" in changes:
        _merchant_only(subject, "metadata")
        checkout.user_metadata = check_metadata(issues, ("metadata",), changes["metadata"] or {})
    if issues:
        raise ValidationFailed(issues)
    if "discount_code" in changes:
        code = changes["discount_code"]
        checkout.discount_id = (
            await _check_discount(session, issues, scope, code=code, discount_id=None, product=product, currency=price.currency) if code else None
        )
        if issues:
            raise ValidationFailed(issues)
    await _price_checkout(session, scope, checkout, price, customer)
    await session.flush()
    await _emit(session, scope, checkout, WebhookEventType.checkout_updated)
    return checkout


async def _create_customer(session: AsyncSession, subject: Subject, draft: CustomerDraft) -> Customer:
    try:
        return await customers.create_customer(session, subject, draft)
    except Conflict as exc:  # its external id was taken since (a race): the checkout's field
        raise ValidationFailed([FieldIssue(("customer", "externalId"), exc.message, "conflict")]) from None


async def _customer_for(session: AsyncSession, subject: Subject, checkout: Checkout) -> Customer:
    """The checkout's customer: the one it names, the existing one with the external id it was
    given, an existing one of the same email and type, or a new one from its data (a business
    with its buyer as owner)."""
    scope = subject.scope
    if checkout.customer_id is not None:
        customer = await repository.get_customer(session, scope, checkout.customer_id)
        if customer is None:
            raise ValidationFailed([FieldIssue(("customerId",), "the customer was deleted", "not_found")])
        return customer
    issues: list[FieldIssue] = []
    type = checkout.customer_type or CustomerType.individual.value
    if not checkout.customer_email:
        issues.append(FieldIssue(("customer", "email"), "is required to confirm", "required"))
    if type == CustomerType.business.value:
        if not checkout.customer_billing_name:
            issues.append(FieldIssue(("customer", "billingName"), "a business needs its billing name", "required"))
        if not checkout.customer_billing_address:
            issues.append(FieldIssue(("customer", "billingAddress"), "a business needs its billing address", "required"))
    if issues:
        raise ValidationFailed(issues)
    customer = None
    if checkout.customer_external_id:
        customer = await repository.customer_by_external_id(session, scope, checkout.customer_external_id)
    if customer is None:
        customer = await repository.customer_by_email(session, scope, checkout.customer_email or "", type)
    if customer is None:
        business = type == CustomerType.business.value
        customer = await _create_customer(
            session,
            subject,
            CustomerDraft(
                type=type,
                email=checkout.customer_email or "",
                name=checkout.customer_name,
                external_id=checkout.customer_external_id,
                billing_name=checkout.customer_billing_name,
                billing_address=checkout.customer_billing_address,
                tax_id=checkout.customer_tax_id,
                owner=MemberDraft(email=checkout.customer_email or "", name=checkout.customer_name) if business else None,
            ),
        )
    checkout.customer_id = customer.id
    return customer


async def _complete(
    session: AsyncSession,
    scope: TenantScope,
    checkout: Checkout,
    *,
    processor: str,
    payment_id: str | None,
    charge_id: str | None,
    amount: int,
    fee: int | None = None,
    payment_method_id: uuid.UUID | None = None,
) -> None:
    """The checkout is paid (or nothing was due): its order, paid, the subscription it starts
    (a recurring product), and the checkout succeeded."""
    if checkout.wallet_top_up:
        await _complete_wallet_top_up(session, scope, checkout, processor=processor, payment_id=payment_id, charge_id=charge_id, amount=amount, fee=fee)
        return
    found = await repository.price_and_product(session, scope, checkout.product_price_id)  # type: ignore[arg-type]
    assert found is not None
    price, product = found
    customer = await repository.get_customer(session, scope, checkout.customer_id) if checkout.customer_id else None
    address = _billing_address(checkout, customer)
    unit = _unit_amount(price, checkout)
    label = product.name + (f" ({checkout.seats} seats)" if checkout.seats else "") + (f", {checkout.trial_days}-day trial" if checkout.trial_days else "")
    if checkout.trial_days:  # nothing is charged now: the first period is billed when the trial ends
        amounts = OrderAmounts(currency=checkout.currency, subtotal=0, discount=0, tax=0)
        lines = [OrderLine(label=label, unit_amount=0, quantity=1, product_price_id=price.id)]
    else:
        amounts = OrderAmounts(currency=checkout.currency, subtotal=checkout.subtotal_amount, discount=checkout.discount_amount, tax=checkout.tax_amount)
        lines = [OrderLine(label=label, unit_amount=unit, quantity=checkout.seats or 1, product_price_id=price.id)]
    order = await orders.create_order(
        session,
        scope,
        customer_id=checkout.customer_id,  # type: ignore[arg-type]
        product_id=product.id,
        billing_reason=BillingReason.subscription_create if product.is_recurring else BillingReason.purchase,
        amounts=amounts,
        lines=lines,
        processor=processor,
        checkout_id=checkout.id,
        discount_id=checkout.discount_id if not checkout.trial_days else None,
        tax_basis_points=checkout.tax_basis_points,
        tax_country=(address or {}).get("country"),
        billing_name=(customer.billing_name if customer is not None else None) or checkout.customer_billing_name,
        billing_address=address,
        metadata=dict(checkout.user_metadata),
    )
    if product.is_recurring and customer is not None:
        owner = await members_repository.get_owner(session, scope, customer.id) if customer.is_business else None
        subscription = await subscriptions.create_from_checkout(
            session,
            scope,
            checkout_id=checkout.id,
            customer=customer,
            product_id=product.id,
            product_price_id=price.id,
            recurring_interval=product.recurring_interval,  # type: ignore[arg-type]
            currency=checkout.currency,
            amount=unit * (checkout.seats or 1),
            seats=checkout.seats,
            discount_id=checkout.discount_id,
            trial_days=checkout.trial_days,
            processor=checkout.payment_processor,
            payment_method_id=payment_method_id,
            member_id=owner.id if owner is not None else None,
            metadata=dict(checkout.user_metadata),
            order_id=order.id,
        )
        order.subscription_id = subscription.id
        await session.flush()
    await orders.mark_paid(session, scope, order, processor=processor, payment_id=payment_id, charge_id=charge_id, amount=amount, fee=fee)
    await _succeeded(session, scope, checkout, order.id)


async def _succeeded(session: AsyncSession, scope: TenantScope, checkout: Checkout, order_id: uuid.UUID) -> None:
    checkout.status = CheckoutStatus.succeeded.value
    checkout.payment_client_secret = None
    checkout.order_id = order_id
    checkout.succeeded_at = clock.now()
    checkout.failure_code = checkout.failure_message = None
    await session.flush()
    await _emit(session, scope, checkout, WebhookEventType.checkout_updated)


async def _complete_wallet_top_up(
    session: AsyncSession, scope: TenantScope, checkout: Checkout, *, processor: str, payment_id: str | None, charge_id: str | None, amount: int, fee: int | None
) -> None:
    """A top-up checkout is paid: its order (one line "Wallet top-up"), paid, and the wallet
    credited with it (once per order), in the caller's transaction."""
    assert checkout.customer_id is not None
    customer = await repository.get_customer(session, scope, checkout.customer_id)
    order = await orders.create_order(
        session,
        scope,
        customer_id=checkout.customer_id,
        product_id=None,
        billing_reason=BillingReason.wallet_top_up,
        amounts=OrderAmounts(currency=checkout.currency, subtotal=checkout.subtotal_amount, discount=0, tax=0),
        lines=[OrderLine(label="Wallet top-up", unit_amount=checkout.subtotal_amount, quantity=1)],
        processor=processor,
        checkout_id=checkout.id,
        billing_name=customer.billing_name if customer is not None else None,
        billing_address=customer.billing_address if customer is not None else None,
        metadata=dict(checkout.user_metadata),
    )
    await orders.mark_paid(session, scope, order, processor=processor, payment_id=payment_id, charge_id=charge_id, amount=amount, fee=fee)
    await wallets.credit_top_up(session, scope, checkout.customer_id, checkout.currency, order.subtotal_amount, order_id=order.id)
    await _succeeded(session, scope, checkout, order.id)


def _fail(checkout: Checkout, code: str | None, message: str | None) -> None:
    checkout.status = CheckoutStatus.failed.value
    checkout.payment_client_secret = None
    checkout.failure_code = (code or "payment_failed")[:128]
    checkout.failure_message = (message or "The payment was not completed.")[:1000]


async def confirm_checkout(
    session: AsyncSession, subject: Subject, checkout_id: uuid.UUID, *, payment_method: str | None, processor: PaymentProcessor | None
) -> Checkout:
    """Pay for the checkout (see the module's docstring). Returns it `succeeded`, `failed`
    (declined: nothing paid, the reason in `failure_code`/`failure_message`), or `confirmed`
    (the processor decides later; its webhook completes it). Never commits."""
    scope = subject.scope
    try:
        checkout = _visible(subject, await repository.lock(session, scope, checkout_id, nowait=True))
    except repository.Locked:
        raise CheckoutBusy("Another confirmation of this checkout is running; nothing was done") from None
    _check_changeable(checkout)
    if payment_method is not None:
        issues: list[FieldIssue] = []
        payment_method = check_text(issues, ("paymentMethod",), payment_method, max_length=PAYMENT_METHOD_MAX_LENGTH, required=True)
        if issues:
            raise ValidationFailed(issues)
    manual = checkout.payment_processor == PaymentProcessorName.manual.value
    due = due_now(checkout)
    if due > 0 and manual and subject.checkout_id is not None:
        raise ValidationFailed([FieldIssue(("paymentMethod",), "an offline (manual) payment is recorded by the merchant, not the customer", "not_allowed")])
    if due > 0 and not manual and payment_method is None:
        raise ValidationFailed([FieldIssue(("paymentMethod",), "is required: the checkout's total is due now", "required")])
    if (due > 0 or payment_method is not None) and not manual and processor is None:
        raise ValidationFailed([FieldIssue(("paymentProcessor",), "Stripe is not configured on this server (STRIPE_SECRET_KEY)", "not_configured")])
    customer = await _customer_for(session, subject, checkout)
    # The amounts stay the ones computed when the checkout last changed: what the browser showed
    # is what is charged (a customer found by email does not bring its own address's tax rate).
    due = due_now(checkout)

    processor_customer = None
    if not manual and processor is not None and payment_method is not None:
        processor_customer = await methods.processor_customer(session, customer, processor)
    checkout.payment_attempts += 1
    checkout.confirmed_at = clock.now()
    await session.flush()
    attempt = await session.begin_nested()
    try:
        if checkout.discount_id is not None:
            try:
                await discounts.redeem(session, scope, checkout.discount_id, customer.id, product_id=checkout.product_id, currency=checkout.currency)
            except DiscountNotApplicable as exc:  # e.g. redeemed to its limit since it was applied
                raise ValidationFailed([_discount_issue(exc)]) from None
        if due == 0:
            saved = None
            if processor_customer is not None:  # a trial keeps the card for its first charge
                method = await processor.save_payment_method(customer_id=processor_customer, payment_method=payment_method)
                saved = await methods.record_saved(session, scope, customer, processor, processor_customer, method)
            await _complete(
                session, scope, checkout, processor=checkout.payment_processor, payment_id=None, charge_id=None, amount=0, payment_method_id=saved.id if saved else None
            )
        elif manual:
            result = await ManualProcessor().charge(
                customer_id=str(customer.id),
                payment_method=payment_method or "offline",
                amount=due,
                currency=checkout.currency,
                off_session=False,
                idempotency_key=f"kassa-checkout-{checkout.id}-{checkout.payment_attempts}",
                metadata={},
            )
            await _complete(session, scope, checkout, processor="manual", payment_id=result.payment_id, charge_id=result.charge_id, amount=due, fee=result.fee)
        else:
            assert processor is not None and payment_method is not None and processor_customer is not None
            method = await processor.save_payment_method(customer_id=processor_customer, payment_method=payment_method)
            result = await processor.charge(
                customer_id=processor_customer,
                payment_method=method.id,
                amount=due,
                currency=checkout.currency,
                off_session=False,
                idempotency_key=f"kassa-checkout-{checkout.id}-{checkout.payment_attempts}",
                metadata={"kassa_organization_id": str(scope.organization_id), "kassa_checkout_id": str(checkout.id)},
            )
            if result.status == "failed":
                raise PaymentMethodRefused(result.failure_message or "The payment was declined.", decline_code=result.failure_code)
            checkout.payment_id = result.payment_id
            saved = await methods.record_saved(session, scope, customer, processor, processor_customer, method)
            if result.status == "succeeded":
                await _complete(
                    session, scope, checkout, processor=processor.name, payment_id=result.payment_id, charge_id=result.charge_id, amount=due, fee=result.fee,
                    payment_method_id=saved.id,
                )
            else:  # requires_action / processing: the webhook completes it
                checkout.status = CheckoutStatus.confirmed.value
                if result.status == "requires_action":
                    checkout.payment_client_secret = result.raw.get("client_secret")
                await session.flush()
                await _emit(session, scope, checkout, WebhookEventType.checkout_updated)
        await attempt.commit()
    except PaymentMethodRefused as exc:
        await attempt.rollback()  # the redemption (and anything else of this attempt) is undone
        await session.refresh(checkout)
        _fail(checkout, exc.decline_code, exc.message)
        await session.flush()
        await _emit(session, scope, checkout, WebhookEventType.checkout_updated)
    except BaseException:
        if attempt.is_active:
            await attempt.rollback()
        raise
    return checkout


# -- from the processor and the clock ------------------------------------------------------


async def complete_from_payment(
    session: AsyncSession,
    scope: TenantScope,
    checkout_id: uuid.UUID,
    *,
    processor: str,
    payment_id: str,
    charge_id: str | None,
    amount: int,
    processor_customer_id: str | None = None,
) -> str:
    """The processor says the checkout's payment succeeded (Stripe's `payment_intent.succeeded`):
    complete it unless it was completed already. Money that moved is always recorded, even on a
    checkout that expired or failed since (its discount is counted if it still can be).

    A confirmation that charged and then crashed before its commit left the checkout without
    its customer (made by that confirmation, rolled back with it): the customer is made here from
    the checkout's data, as the confirmation made it (with its processor customer,
    `processor_customer_id`). A payment of another amount than the checkout is due (it changed
    after a confirmation whose commit was lost) is not recorded against it: it is logged as an
    error for the operator, and the event's outcome says so."""
    checkout = await repository.lock(session, scope, checkout_id)
    if checkout is None:
        return "ignored: no such checkout"
    if checkout.status == CheckoutStatus.succeeded.value:
        return "already recorded"
    if checkout.customer_id is None:
        # Acting as the checkout's own buyer, whose payment this is (no token made this call).
        buyer = Subject(scope=scope, token_id=None, scopes=frozenset(), checkout_id=checkout.id)
        try:
            customer = await _customer_for(session, buyer, checkout)
        except ValidationFailed as exc:
            return f"ignored: the checkout's customer cannot be made ({exc.message})"
        if processor == PaymentProcessorName.stripe.value and processor_customer_id and not customer.stripe_customer_id:
            customer.stripe_customer_id = processor_customer_id
        await session.flush()
    if amount != due_now(checkout):
        logger.error("payment %s of %s for checkout %s, which is due %s: not recorded, see the processor", payment_id, amount, checkout.id, due_now(checkout))
        return f"needs attention: paid {amount}, the checkout is due {due_now(checkout)}"
    if checkout.status != CheckoutStatus.confirmed.value and checkout.discount_id is not None:
        attempt = await session.begin_nested()
        try:
            await discounts.redeem(session, scope, checkout.discount_id, checkout.customer_id, product_id=checkout.product_id, currency=checkout.currency)
            await attempt.commit()
        except DiscountNotApplicable:
            await attempt.rollback()
    checkout.payment_id = payment_id
    await _complete(session, scope, checkout, processor=processor, payment_id=payment_id, charge_id=charge_id, amount=amount)
    return "handled: checkout succeeded"


async def fail_from_payment(session: AsyncSession, scope: TenantScope, checkout_id: uuid.UUID, *, code: str | None, message: str | None) -> str:
    """The processor says the payment the checkout waited for failed (`payment_intent.payment_failed`).
    The confirmation counted the discount's redemption for this payment: it is given back, as a
    payment declined at once gives it back, so a new attempt redeems it again (and a discount
    limited to one use stays usable by this customer)."""
    checkout = await repository.lock(session, scope, checkout_id)
    if checkout is None:
        return "ignored: no such checkout"
    if checkout.status != CheckoutStatus.confirmed.value:
        return f"ignored: the checkout is {checkout.status}"
    if checkout.discount_id is not None and checkout.customer_id is not None:
        await discounts.release(session, scope, checkout.discount_id, checkout.customer_id)
    _fail(checkout, code, message)
    await session.flush()
    await _emit(session, scope, checkout, WebhookEventType.checkout_updated)
    return "handled: checkout failed"


async def settle_waiting(session: AsyncSession, scope: TenantScope, processor: PaymentProcessor) -> int:
    """The safety net under Stripe's events: CONFIRMED checkouts whose outcome has not arrived
    `SETTLE_AFTER` after their confirmation are asked about at the processor, and completed or
    failed as its events would have done. One still waiting for the customer (3-D Secure never
    done) after the checkout expired is canceled at the processor, then failed (and the expiry
    sweep expires it). Returns how many were settled."""
    settled = 0
    for checkout in await repository.confirmed_waiting(session, scope, clock.now() - SETTLE_AFTER, SETTLE_BATCH):
        if checkout.payment_processor != processor.name or checkout.payment_id is None:
            continue
        if checkout.expires_at <= clock.now():
            result = await processor.cancel_payment(payment_id=checkout.payment_id)
        else:
            result = await processor.payment_status(payment_id=checkout.payment_id)
        if result.status == "succeeded":
            await complete_from_payment(
                session, scope, checkout.id, processor=processor.name, payment_id=checkout.payment_id, charge_id=result.charge_id, amount=result.amount
            )
            settled += 1
        elif result.status == "failed":
            await fail_from_payment(session, scope, checkout.id, code=result.failure_code, message=result.failure_message)
            settled += 1
    return settled


async def expire_due(session: AsyncSession, scope: TenantScope) -> int:
    """Expire the organization's open checkouts past their time (a batch); emits
    `checkout.expired` for each. Returns how many."""
    rows = await repository.due_to_expire(session, scope, clock.now(), EXPIRE_BATCH)
    for checkout in rows:
        checkout.status = CheckoutStatus.expired.value
    await session.flush()
    for checkout in rows:
        await _emit(session, scope, checkout, WebhookEventType.checkout_expired)
    return len(rows)
