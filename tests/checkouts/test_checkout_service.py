"""Checkouts through their service (app/checkouts/service.py), without GraphQL and without
Stripe: the amounts of every kind of price, discount and tax rate to the cent (usd, jpy, kwd),
free and offline (manual) purchases, who may see and confirm what, expiry on the kit's clock,
the discount's redemption, the customer made or reused on confirmation, and trials."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.catalog.service import PriceDraft, SeatTierDraft
from app.checkouts import service as checkouts
from app.checkouts.errors import CheckoutNotOpen
from app.checkouts.service import CheckoutDraft, CustomerData
from app.discounts import service as discounts
from app.discounts.service import DiscountDraft
from app.discounts.tax_rates import set_tax_rate
from app.kit.errors import NotFound, ValidationFailed
from app.models import Customer
from app.models.discount import Discount
from app.models.order import Order, OrderItem, Transaction
from tests.conftest import FROZEN_AT, make_org, tenant_factory
from tests.orders.factories import client, count, make_customer, make_product, merchant, rows

FIXED = PriceDraft(type="fixed", amount=1999)
SEATS = PriceDraft(
    type="seat_unit",
    seat_tiers=[SeatTierDraft(1, 4, 1000), SeatTierDraft(5, 9, 800), SeatTierDraft(10, None, 600)],
)
CUSTOM = PriceDraft(type="custom", minimum_amount=500, maximum_amount=10_000, preset_amount=2500)
RATES = [(None, None, 1000), ("DE", None, 1900), ("US", None, 0), ("US", "CA", 725), ("KW", None, 1500), ("JP", None, 1000)]


def _buyer(country: str | None = None, state: str | None = None, **fields: Any) -> CustomerData:
    address = {"country": country, "state": state, "line1": "1 Main St"} if country else None
    return CustomerData(email=fields.pop("email", "buyer@example.com"), billing_address=address, **fields)


async def _checkout(session, subject, price, **draft: Any):
    draft.setdefault("payment_processor", "manual")
    return await checkouts.create_checkout(session, subject, CheckoutDraft(product_price_id=price.id, **draft), stripe_configured=False)


async def _discount(session, subject, *, code: str | None = None, **terms: Any) -> Discount:
    kind = "fixed" if "amount" in terms else "percentage"
    return await discounts.create_discount(session, subject, DiscountDraft(name="Off", type=kind, duration="once", code=code, **terms))


def _amounts(checkout) -> tuple[int, int, int, int, int]:
    return (checkout.subtotal_amount, checkout.discount_amount, checkout.net_amount, checkout.tax_amount, checkout.total_amount)


async def _events(session, organization_id, prefix: str = "checkout.") -> list[str]:
    found = await rows(session, "SELECT type FROM webhook_events WHERE organization_id = :o ORDER BY sequence", o=organization_id)
    return [row[0] for row in found if row[0].startswith(prefix)]


# -- amounts -------------------------------------------------------------------------------


@dataclass
class Case:
    price: PriceDraft
    expected: tuple[int, int, int, int, int]  # subtotal, discount, net, tax, total
    draft: dict[str, Any] = field(default_factory=dict)
    discount: dict[str, Any] | None = None
    rates: bool = True  # RATES set in the organization (else no tax rate at all)
    buyer: CustomerData | None = None


CASES = {
    "fixed, no rate anywhere": Case(FIXED, (1999, 0, 1999, 0, 1999), rates=False),
    "fixed, the default rate": Case(FIXED, (1999, 0, 1999, 200, 2199)),  # 199.9 -> 200
    "fixed, a country's rate of 0": Case(FIXED, (1999, 0, 1999, 0, 1999), buyer=_buyer("US", "NY")),
    "fixed, the state's rate": Case(FIXED, (1999, 0, 1999, 145, 2144), buyer=_buyer("US", "CA")),  # 144.9275
    "fixed, the country's rate": Case(FIXED, (1999, 0, 1999, 380, 2379), buyer=_buyer("DE")),  # 379.81
    "10 % off, rounded half away from zero": Case(PriceDraft(type="fixed", amount=25), (25, 3, 22, 2, 24), discount={"basis_points": 1000}),
    "12.34 % off": Case(FIXED, (1999, 247, 1752, 175, 1927), discount={"basis_points": 1234}),  # 246.68; 175.2
    "100 % off": Case(FIXED, (1999, 1999, 0, 0, 0), discount={"basis_points": 10_000}),
    "fixed 5.00 off, the state's rate": Case(FIXED, (1999, 500, 1499, 109, 1608), discount={"amount": 500, "currency": "usd"}, buyer=_buyer("US", "CA")),
    "fixed off more than the price: capped": Case(FIXED, (1999, 1999, 0, 0, 0), discount={"amount": 5000, "currency": "usd"}),
    "pay what you want": Case(CUSTOM, (1234, 0, 1234, 234, 1468), draft={"amount": 1234}, buyer=_buyer("DE")),  # 234.46
    "pay what you want, the preset": Case(CUSTOM, (2500, 250, 2250, 225, 2475), discount={"basis_points": 1000}),
    "pay what you want, the minimum": Case(CUSTOM, (500, 0, 500, 0, 500), draft={"amount": 500}, rates=False),
    "4 seats: the first tier": Case(SEATS, (4000, 0, 4000, 400, 4400), draft={"seats": 4}),
    "5 seats: the second tier for all of them": Case(SEATS, (4000, 0, 4000, 400, 4400), draft={"seats": 5}),
    "9 seats": Case(SEATS, (7200, 720, 6480, 648, 7128), draft={"seats": 9}, discount={"basis_points": 1000}),
    "10 seats: the open-ended tier": Case(SEATS, (6000, 0, 6000, 435, 6435), draft={"seats": 10}, buyer=_buyer("US", "CA")),
    "jpy, no minor unit": Case(PriceDraft(type="fixed", currency="jpy", amount=999), (999, 155, 844, 84, 928), discount={"basis_points": 1550}, buyer=_buyer("JP")),
    "jpy, a fixed discount": Case(PriceDraft(type="fixed", currency="jpy", amount=999), (999, 100, 899, 90, 989), discount={"amount": 100, "currency": "jpy"}),
    "kwd, three minor digits": Case(PriceDraft(type="fixed", currency="kwd", amount=12_345), (12_345, 617, 11_728, 1759, 13_487), discount={"basis_points": 500}, buyer=_buyer("KW")),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_amounts_to_the_cent(session_factory, org, case: Case):
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        if case.rates:
            for country, state, basis_points in RATES:
                await set_tax_rate(session, subject, country, state, basis_points)
        _, price = await make_product(session, subject, case.price)
        draft = dict(case.draft)
        if case.discount is not None:
            draft["discount_id"] = (await _discount(session, subject, **case.discount)).id
        checkout = await _checkout(session, subject, price, customer=case.buyer or _buyer(), **draft)
        assert _amounts(checkout) == case.expected
        assert checkout.currency == case.price.currency and checkout.status == "open"
        # what the order records is what the checkout showed
        done = await checkouts.confirm_checkout(session, subject, checkout.id, payment_method=None, processor=None)
        assert done.status == "succeeded"
        order = await session.get(Order, done.order_id)
        assert (order.subtotal_amount, order.discount_amount, order.net_amount, order.tax_amount, order.total_amount) == case.expected
        assert (order.due_amount, order.status, order.currency) == (case.expected[4], "paid", case.price.currency)
        [item] = (await session.scalars(select(OrderItem).where(OrderItem.order_id == order.id))).all()
        assert (item.quantity, item.amount) == (case.draft.get("seats", 1), case.expected[0])
        await session.commit()


@pytest.mark.parametrize(
    ("price", "draft", "expected"),
    [
        (CUSTOM, {"amount": 499}, [(("amount",), "out_of_range")]),
        (CUSTOM, {"amount": 10_001}, [(("amount",), "out_of_range")]),
        (CUSTOM, {"amount": 12.5}, [(("amount",), "invalid_type")]),
        (CUSTOM, {"amount": True}, [(("amount",), "invalid_type")]),
        (FIXED, {"amount": 1000}, [(("amount",), "not_allowed")]),
        (SEATS, {}, [(("seats",), "required")]),
        (SEATS, {"seats": 0}, [(("seats",), "out_of_range")]),
        (SEATS, {"seats": 2.0}, [(("seats",), "out_of_range")]),
        (FIXED, {"seats": 2}, [(("seats",), "not_allowed")]),
        (FIXED, {"payment_processor": "paypal"}, [(("paymentProcessor",), "invalid_value")]),
        (FIXED, {"payment_processor": "stripe"}, [(("paymentProcessor",), "not_configured")]),
        (FIXED, {"expires_in_seconds": 59}, [(("expiresInSeconds",), "out_of_range")]),
        (FIXED, {"customer": CustomerData(type="alien", email="not-an-email")}, [(("customer", "type"), "invalid_value"), (("customer", "email"), "invalid_email")]),
    ],
)
async def test_bad_input_is_refused_with_its_field_and_creates_nothing(session_factory, org, price, draft, expected):
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        _, row = await make_product(session, subject, price)
        with pytest.raises(ValidationFailed) as raised:
            await _checkout(session, subject, row, **draft)
        assert [(issue.path, issue.code) for issue in raised.value.issues] == expected
        assert await count(session, "SELECT count(*) FROM checkouts") == 0


async def test_a_pay_what_you_want_amount_out_of_bounds_is_refused_on_update_too(session_factory, org):
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        _, price = await make_product(session, subject, CUSTOM)
        checkout = await _checkout(session, subject, price, amount=600)
        for amount in (499, 10_001):
            with pytest.raises(ValidationFailed) as raised:
                await checkouts.update_checkout(session, subject, checkout.id, {"amount": amount})
            assert [(i.path, i.code) for i in raised.value.issues] == [(("amount",), "out_of_range")]
        await session.rollback()


async def test_a_discount_in_another_currency_does_not_apply(session_factory, org):
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        _, price = await make_product(session, subject, FIXED)
        euros = await _discount(session, subject, amount=500, currency="eur", code="EUROS")
        # a problem of the checkout's input: on the field, with the reason in its code
        with pytest.raises(ValidationFailed) as raised:
            await _checkout(session, subject, price, discount_id=euros.id)
        assert [(i.path, i.code) for i in raised.value.issues] == [(("discountId",), "discount_other_currency")]
        checkout = await _checkout(session, subject, price)
        with pytest.raises(ValidationFailed) as raised:
            await checkouts.update_checkout(session, subject, checkout.id, {"discount_code": "euros"})
        assert [(i.path, i.code) for i in raised.value.issues] == [(("discountCode",), "discount_other_currency")]
        await session.rollback()


# -- confirming ----------------------------------------------------------------------------


async def test_a_free_price_completes_without_payment(session_factory, org):
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        _, price = await make_product(session, subject, PriceDraft(type="free"))
        checkout = await _checkout(session, subject, price, payment_processor="stripe", customer=_buyer())  # no Stripe needed
        browser = client(org.id, checkout.id)
        done = await checkouts.confirm_checkout(session, browser, checkout.id, payment_method=None, processor=None)
        assert done.status == "succeeded" and done.payment_attempts == 1
        order = await session.get(Order, done.order_id)
        assert (order.total_amount, order.due_amount, order.status, order.balance_amount) == (0, 0, "paid", 0)
        assert order.checkout_id == checkout.id and order.invoice_number == 1
        assert await count(session, "SELECT count(*) FROM transactions") == 0
        assert await _events(session, org.id) == ["checkout.created", "checkout.updated"]
        assert await _events(session, org.id, "order.") == ["order.created", "order.paid", "order.updated"]
        await session.commit()


async def test_an_offline_payment_recorded_by_the_merchant_pays_the_order(session_factory, org):
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        _, price = await make_product(session, subject, FIXED)
        checkout = await _checkout(session, subject, price, customer=_buyer())
        browser = client(org.id, checkout.id)
        with pytest.raises(ValidationFailed) as raised:  # the customer cannot say they paid
            await checkouts.confirm_checkout(session, browser, checkout.id, payment_method="cash", processor=None)
        assert [(i.path, i.code) for i in raised.value.issues] == [(("paymentMethod",), "not_allowed")]
        assert (checkout.status, checkout.payment_attempts, checkout.customer_id) == ("open", 0, None)
        done = await checkouts.confirm_checkout(session, subject, checkout.id, payment_method="bank transfer 42", processor=None)
        assert done.status == "succeeded"
        order = await session.get(Order, done.order_id)
        assert (order.status, order.processor, order.due_amount, order.balance_amount) == ("paid", "manual", 1999, 1999)
        [payment] = (await session.scalars(select(Transaction).where(Transaction.order_id == order.id))).all()
        assert (payment.type, payment.processor, payment.amount, payment.processor_id) == ("payment", "manual", 1999, order.charge_id)
        with pytest.raises(CheckoutNotOpen) as raised:
            await checkouts.confirm_checkout(session, subject, checkout.id, payment_method=None, processor=None)
        assert raised.value.status == "succeeded"
        with pytest.raises(CheckoutNotOpen):
            await checkouts.update_checkout(session, subject, checkout.id, {"amount": None})
        assert await count(session, "SELECT count(*) FROM orders") == 1
        await session.commit()


async def test_a_client_secret_reaches_its_own_checkout_only(session_factory, org, other_org):
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        _, price = await make_product(session, subject, PriceDraft(type="free"))
        mine = await _checkout(session, subject, price, customer=_buyer())
        other = await _checkout(session, subject, price, customer=_buyer(email="other@example.com"))
        browser = client(org.id, mine.id)
        assert (await checkouts.get_checkout(session, browser, mine.id)).id == mine.id
        for call in (
            checkouts.get_checkout(session, browser, other.id),
            checkouts.update_checkout(session, browser, other.id, {"customer": CustomerData(name="Eve"), "customer_fields": ["name"]}),
            checkouts.confirm_checkout(session, browser, other.id, payment_method=None, processor=None),
        ):
            with pytest.raises(NotFound):
                await call
        # the merchant-only fields, and creating one
        for changes, path in (({"metadata": {"a": "b"}}, "metadata"), ({"customer_id": None}, "customerId")):
            with pytest.raises(ValidationFailed) as raised:
                await checkouts.update_checkout(session, browser, mine.id, changes)
            assert raised.value.issues[0].path == (path,)
        with pytest.raises(ValidationFailed):
            await _checkout(session, browser, price)
        assert (other.status, other.customer_name) == ("open", None)
        await session.commit()
    async with tenant_factory(session_factory, other_org.id)() as session:  # another organization's merchant
        with pytest.raises(NotFound):
            await checkouts.get_checkout(session, merchant(other_org.id), mine.id)


# -- expiry --------------------------------------------------------------------------------


async def test_an_expired_checkout_cannot_be_confirmed_and_the_sweep_marks_it(session_factory, org, clock):
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        _, price = await make_product(session, subject, PriceDraft(type="free"))
        soon = await _checkout(session, subject, price, customer=_buyer(), expires_in_seconds=60)
        later = await _checkout(session, subject, price, customer=_buyer())  # an hour
        assert soon.expires_at == FROZEN_AT + timedelta(seconds=60)
        assert await checkouts.expire_due(session, subject.scope) == 0
        clock.advance(timedelta(seconds=60))  # expires_at itself is past it
        with pytest.raises(CheckoutNotOpen) as raised:
            await checkouts.confirm_checkout(session, subject, soon.id, payment_method=None, processor=None)
        assert raised.value.status == "expired"
        with pytest.raises(CheckoutNotOpen):
            await checkouts.update_checkout(session, subject, soon.id, {"customer": CustomerData(name="Ann"), "customer_fields": ["name"]})
        assert await checkouts.expire_due(session, subject.scope) == 1
        assert await checkouts.expire_due(session, subject.scope) == 0
        await session.refresh(soon)
        await session.refresh(later)
        assert (soon.status, later.status) == ("expired", "open")
        expired = await rows(session, "SELECT payload FROM webhook_events WHERE type = 'checkout.expired'")
        assert [row[0]["data"]["status"] for row in expired] == ["EXPIRED"]
        with pytest.raises(CheckoutNotOpen) as raised:
            await checkouts.confirm_checkout(session, subject, soon.id, payment_method=None, processor=None)
        assert raised.value.status == "expired"
        done = await checkouts.confirm_checkout(session, subject, later.id, payment_method=None, processor=None)
        assert done.status == "succeeded"
        await session.commit()


async def test_the_expiry_job_expires_open_checkouts_of_every_organization(live, clock):
    from workers.checkouts import expire

    made = {}
    for name in ("A", "B"):
        org = await make_org(live.session_factory, name=name)
        subject = merchant(org.id)
        async with tenant_factory(live.session_factory, org.id)() as session:
            _, price = await make_product(session, subject, FIXED)
            made[org.id] = [(await _checkout(session, subject, price, expires_in_seconds=60 * (i + 1))).id for i in range(3)]
            await session.commit()
    clock.advance(timedelta(minutes=2))
    ctx = {"session_factory": live.session_factory, "redis": live.redis}
    assert await expire(ctx) == 4
    assert await expire(ctx) == 0
    async with live.session_factory() as session:
        statuses = dict(await rows(session, "SELECT id, status FROM checkouts"))
        events = await rows(session, "SELECT organization_id, payload FROM webhook_events WHERE type = 'checkout.expired'")
    for ids in made.values():
        assert [statuses[i] for i in ids] == ["expired", "expired", "open"]
    assert sorted(str(org) for org, _ in events) == sorted(str(org) for org in made for _ in range(2))


# -- discounts, customers, trials ----------------------------------------------------------


async def test_a_discount_is_redeemed_once_on_success(session_factory, org):
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        _, price = await make_product(session, subject, FIXED)
        discount = await _discount(session, subject, basis_points=2000, code="TWENTY", max_redemptions=1)
        checkout = await _checkout(session, subject, price, discount_code="twenty", customer=_buyer())
        second = await _checkout(session, subject, price, discount_code="TWENTY", customer=_buyer(email="b@example.com"))
        assert (checkout.discount_id, checkout.discount_amount) == (discount.id, 400)
        done = await checkouts.confirm_checkout(session, subject, checkout.id, payment_method=None, processor=None)
        assert done.status == "succeeded"
        with pytest.raises(CheckoutNotOpen):
            await checkouts.confirm_checkout(session, subject, checkout.id, payment_method=None, processor=None)
        await session.refresh(discount)
        assert discount.redemptions_count == 1
        assert await count(session, "SELECT count(*) FROM discount_redemptions") == 1
        order = await session.get(Order, done.order_id)
        assert (order.discount_id, order.discount_amount, order.total_amount) == (discount.id, 400, 1599)
        # its limit reached, the other checkout cannot be confirmed with it; nothing of it stays
        with pytest.raises(ValidationFailed) as raised:
            await checkouts.confirm_checkout(session, subject, second.id, payment_method=None, processor=None)
        assert [(i.path, i.code) for i in raised.value.issues] == [(("discountCode",), "discount_exhausted")]
        await session.refresh(second)
        assert (second.status, second.order_id) == ("open", None)
        assert await count(session, "SELECT count(*) FROM orders") == 1
        await session.commit()


async def test_a_business_needs_its_billing_name_and_address(session_factory, org):
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        _, price = await make_product(session, subject, FIXED)
        checkout = await _checkout(session, subject, price, customer=CustomerData(type="business", email="einkauf@acme.de"))
        with pytest.raises(ValidationFailed) as raised:
            await checkouts.confirm_checkout(session, subject, checkout.id, payment_method=None, processor=None)
        assert [(i.path, i.code) for i in raised.value.issues] == [(("customer", "billingName"), "required"), (("customer", "billingAddress"), "required")]
        no_email = await _checkout(session, subject, price, customer=CustomerData(name="Nobody"))
        with pytest.raises(ValidationFailed) as raised:
            await checkouts.confirm_checkout(session, subject, no_email.id, payment_method=None, processor=None)
        assert [(i.path, i.code) for i in raised.value.issues] == [(("customer", "email"), "required")]
        assert await count(session, "SELECT count(*) FROM customers") == 0
        await set_tax_rate(session, subject, "DE", None, 1900)
        await checkouts.update_checkout(
            session,
            subject,
            checkout.id,
            {"customer": CustomerData(billing_name="Acme GmbH", billing_address={"country": "de", "city": "Berlin"}), "customer_fields": ["billing_name", "billing_address"]},
        )
        done = await checkouts.confirm_checkout(session, subject, checkout.id, payment_method=None, processor=None)
        order = await session.get(Order, done.order_id)
        assert (order.billing_name, order.tax_country, order.tax_basis_points, order.tax_amount) == ("Acme GmbH", "DE", 1900, 380)
        customer = await session.get(Customer, done.customer_id)
        assert (customer.type, customer.email, customer.billing_name) == ("business", "einkauf@acme.de", "Acme GmbH")
        await session.commit()


async def test_a_new_customer_is_made_on_confirmation_and_an_existing_one_reused(session_factory, org):
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        _, price = await make_product(session, subject, PriceDraft(type="free"))
        existing = await make_customer(session, subject, email="ann@example.com", name="Ann")
        first = await _checkout(session, subject, price, customer=_buyer(email="new@example.com", name="New"))
        assert first.customer_id is None and await count(session, "SELECT count(*) FROM customers") == 1
        await checkouts.confirm_checkout(session, subject, first.id, payment_method=None, processor=None)
        made = await session.get(Customer, first.customer_id)
        assert (made.email, made.name, made.type) == ("new@example.com", "New", "individual")
        reuse = await _checkout(session, subject, price, customer=_buyer(email="ANN@example.com"))
        await checkouts.confirm_checkout(session, subject, reuse.id, payment_method=None, processor=None)
        assert reuse.customer_id == existing.id
        business = await _checkout(
            session, subject, price, customer=CustomerData(type="business", email="ann@example.com", billing_name="Ann Ltd", billing_address={"country": "GB"})
        )
        await checkouts.confirm_checkout(session, subject, business.id, payment_method=None, processor=None)
        assert business.customer_id not in (existing.id, made.id)
        named = await _checkout(session, subject, price, customer_id=existing.id)
        await checkouts.confirm_checkout(session, subject, named.id, payment_method=None, processor=None)
        assert named.customer_id == existing.id
        # the merchant's own id names its customer, whatever email the buyer typed
        known = await make_customer(session, subject, email="ops@example.com", external_id="user_7")
        by_id = await _checkout(session, subject, price, customer=_buyer(email="someone.else@example.com", external_id="user_7"))
        await checkouts.confirm_checkout(session, subject, by_id.id, payment_method=None, processor=None)
        assert by_id.customer_id == known.id
        assert await count(session, "SELECT count(*) FROM customers") == 4
        owners = await rows(session, "SELECT customer_id, email FROM members WHERE customer_id = :c", c=business.customer_id)
        assert [email for _, email in owners] == ["ann@example.com"]
        await session.commit()


async def test_a_trial_owes_nothing_now(session_factory, org):
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        await set_tax_rate(session, subject, None, None, 1000)
        product, price = await make_product(session, subject, PriceDraft(type="fixed", amount=1500), recurring_interval="month", trial_days=14)
        checkout = await _checkout(session, subject, price, customer=_buyer())
        assert (checkout.trial_days, checkout.total_amount) == (14, 1650)  # what the first period will cost
        assert checkouts.due_now(checkout) == 0
        no_trial = await _checkout(session, subject, price, customer=_buyer(), allow_trial=False)
        assert no_trial.trial_days is None
        done = await checkouts.confirm_checkout(session, client(org.id, checkout.id), checkout.id, payment_method=None, processor=None)
        assert done.status == "succeeded"
        order = await session.get(Order, done.order_id)
        assert (order.billing_reason, order.total_amount, order.due_amount, order.status) == ("subscription_create", 0, 0, "paid")
        [item] = (await session.scalars(select(OrderItem).where(OrderItem.order_id == order.id))).all()
        assert item.amount == 0 and "14-day trial" in item.label
        assert await count(session, "SELECT count(*) FROM transactions") == 0
        await session.commit()
