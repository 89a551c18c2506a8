"""Orders through their service (app/orders/service.py), without GraphQL: gapless invoice numbers
per organization (also under concurrency), paying once, refunds that never pass what was paid
and whose tax parts add up to the order's tax exactly, refunds and disputes the processor
reports, each recorded once. The ledger check (tests/conftest.py) runs after every test."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from sqlalchemy import select

from app.kit.errors import ValidationFailed
from app.kit.tenancy import tenant_session
from app.models.order import BillingReason, Order, Refund, Transaction
from app.orders import service as orders
from app.orders.errors import RefundExceedsRefundable, RefundNotAllowed
from app.payments.manual import ManualProcessor
from tests.conftest import make_org, tenant_factory
from tests.orders.factories import count, make_customer, merchant, paid_order, pending_order, rows

MANUAL = ManualProcessor()


async def _transactions(session, order) -> list[tuple[str, int, int]]:
    found = await session.scalars(select(Transaction).where(Transaction.order_id == order.id).order_by(Transaction.created_at, Transaction.amount))
    return sorted((t.type, t.amount, t.tax_amount) for t in found)


async def _events(session, organization_id) -> list[str]:
    """The order and refund webhook events of the organization, in order."""
    found = await rows(session, "SELECT type FROM webhook_events WHERE organization_id = :o ORDER BY sequence", o=organization_id)
    return [row[0] for row in found if row[0].startswith(("order.", "refund."))]


# -- invoice numbers -----------------------------------------------------------------------


async def test_invoice_numbers_start_at_1_in_each_organization_and_a_rollback_gives_its_number_back(session_factory, org, other_org):
    a, b = merchant(org.id), merchant(other_org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        customer_a = await make_customer(session, a)
        numbers = [(await pending_order(session, a, customer_a)).invoice_number for _ in range(3)]
        await session.commit()
    assert numbers == [1, 2, 3]
    async with tenant_factory(session_factory, other_org.id)() as session:
        customer_b = await make_customer(session, b)
        assert (await pending_order(session, b, customer_b)).invoice_number == 1
        await session.commit()
    async with tenant_factory(session_factory, org.id)() as session:
        assert (await pending_order(session, a, customer_a)).invoice_number == 4
        await session.rollback()  # the order is never made: 4 is given back
    async with tenant_factory(session_factory, org.id)() as session:
        assert (await pending_order(session, a, customer_a)).invoice_number == 4
        await session.commit()
        numbers = (await session.scalars(select(Order.invoice_number).order_by(Order.invoice_number))).all()
    assert numbers == [1, 2, 3, 4]


async def test_concurrent_orders_get_exactly_1_to_n_even_when_some_roll_back(live):
    """12 orders made at once, each in its own transaction, every third rolled back after taking
    its number: the committed ones hold exactly 1..8, in two rounds."""
    org = await make_org(live.session_factory)
    subject = merchant(org.id)
    async with tenant_session(live.session_factory, subject.scope) as session:
        customer = await make_customer(session, subject)
        await session.commit()

    async def one(index: int) -> int | None:
        async with tenant_session(live.session_factory, subject.scope) as session:
            order = await pending_order(session, subject, customer)
            await asyncio.sleep(0)  # let the others queue on the counter
            if index % 3 == 2:
                await session.rollback()
                return None
            await session.commit()
            return order.invoice_number

    for round in range(2):
        taken = [n for n in await asyncio.gather(*(one(i) for i in range(12))) if n is not None]
        assert sorted(taken) == list(range(8 * round + 1, 8 * round + 9)), taken
    async with tenant_session(live.session_factory, subject.scope) as session:
        stored = (await session.scalars(select(Order.invoice_number).order_by(Order.invoice_number))).all()
    assert stored == list(range(1, 17))


def _drafts(customer, count: int, subtotal: int = 1000) -> list[orders.OrderDraft]:
    return [
        orders.OrderDraft(
            customer_id=customer.id, product_id=None, billing_reason=BillingReason.purchase,
            amounts=orders.OrderAmounts(currency="usd", subtotal=subtotal + n, discount=0, tax=0),
            lines=[orders.OrderLine(label=f"Thing {n}", unit_amount=subtotal + n)], processor="manual",
        )
        for n in range(count)
    ]


async def test_a_batch_of_orders_takes_consecutive_numbers_in_its_order_in_a_fixed_number_of_statements(session_factory, org):
    """`create_orders` (a renewal batch): the numbers follow the organization's last one, in the
    order of the drafts; the statements do not grow with the batch; a rollback gives them all
    back; an order whose lines do not add up stops the batch before anything is written."""
    from app.kit.db import statement_counter

    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        customer = await make_customer(session, subject)
        assert (await pending_order(session, subject, customer)).invoice_number == 1
        await session.commit()
    statements = []
    for size in (3, 60):
        async with tenant_factory(session_factory, org.id)() as session:
            counter = [0]
            token = statement_counter.set(counter)
            try:
                made = await orders.create_orders(session, subject.scope, _drafts(customer, size))
            finally:
                statement_counter.reset(token)
            statements.append(counter[0])
            assert [(o.invoice_number, o.subtotal_amount) for o in made] == [(2 + n, 1000 + n) for n in range(size)]
            await session.rollback()  # all given back
    assert statements[0] == statements[1]
    bad = _drafts(customer, 2)
    bad[1] = replace(bad[1], lines=[orders.OrderLine(label="Wrong", unit_amount=1)])
    async with tenant_factory(session_factory, org.id)() as session:
        with pytest.raises(ValueError, match="add up"):
            await orders.create_orders(session, subject.scope, bad)
        made = await orders.create_orders(session, subject.scope, _drafts(customer, 4))
        assert [o.invoice_number for o in made] == [2, 3, 4, 5]
        assert await orders.create_orders(session, subject.scope, []) == []
        await session.commit()
        items = await rows(session, "SELECT o.invoice_number, i.label, i.amount FROM order_items i JOIN orders o ON o.id = i.order_id ORDER BY 1")
        assert items[1:] == [(2 + n, f"Thing {n}", 1000 + n) for n in range(4)]
        assert (await _events(session, org.id)).count("order.created") == 5


async def test_concurrent_batches_and_single_orders_share_one_gapless_sequence(live):
    """Batches of orders (renewals) and single orders (checkouts) at once, some rolled back after
    taking their numbers: what is committed holds exactly 1..N, each batch's numbers consecutive."""
    org = await make_org(live.session_factory)
    subject = merchant(org.id)
    async with tenant_session(live.session_factory, subject.scope) as session:
        customer = await make_customer(session, subject)
        await session.commit()

    async def one(index: int) -> list[int]:
        async with tenant_session(live.session_factory, subject.scope) as session:
            made = await orders.create_orders(session, subject.scope, _drafts(customer, 1 + (index % 4) * 10))
            await asyncio.sleep(0)  # let the others queue on the counter
            if index % 5 == 4:
                await session.rollback()
                return []
            await session.commit()
            numbers = [o.invoice_number for o in made]
            assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
            return numbers

    taken = [n for numbers in await asyncio.gather(*(one(i) for i in range(15))) for n in numbers]
    assert sorted(taken) == list(range(1, len(taken) + 1))
    async with tenant_session(live.session_factory, subject.scope) as session:
        stored = (await session.scalars(select(Order.invoice_number).order_by(Order.invoice_number))).all()
    assert stored == list(range(1, len(taken) + 1))


async def test_a_batch_of_payments_records_each_once(session_factory, org):
    """`mark_paid_many` (a renewal batch's charges): each pending order paid with its entries,
    an order paid before (or given twice) left as it is; an amount other than the due one is
    refused before anything is written."""
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        customer = await make_customer(session, subject)
        made = await orders.create_orders(session, subject.scope, _drafts(customer, 4))
        first = made[0]
        assert await orders.mark_paid(session, subject.scope, first, processor="manual", payment_id=None, charge_id="pay_0", amount=first.due_amount)
        with pytest.raises(ValueError, match="is due"):
            await orders.mark_paid_many(session, subject.scope, [orders.Payment(made[1], "manual", None, "pay_1", made[1].due_amount + 1)])
        payments = [orders.Payment(o, "manual", None, f"pay_{n}", o.due_amount, fee=n) for n, o in enumerate(made)]
        paid = await orders.mark_paid_many(session, subject.scope, payments + payments[1:2])
        assert paid == made[1:]
        assert [(o.status, o.balance_amount) for o in made] == [("paid", o.due_amount - (n if n else 0)) for n, o in enumerate(made)]
        for n, order in enumerate(made):
            expected = [("payment", order.due_amount, 0)] + ([("processor_fee", -n, 0)] if n else [])
            assert await _transactions(session, order) == sorted(expected)
        assert (await _events(session, org.id)).count("order.paid") == 4
        await session.commit()


# -- paying --------------------------------------------------------------------------------


async def test_paying_twice_records_once(session_factory, org):
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        customer = await make_customer(session, subject)
        order = await pending_order(session, subject, customer, subtotal=1000, tax=80)
        with pytest.raises(ValueError, match="is due 1080"):
            await orders.mark_paid(session, subject.scope, order, processor="manual", payment_id="p1", charge_id="c1", amount=1000)
        assert await orders.mark_paid(session, subject.scope, order, processor="manual", payment_id="p1", charge_id="c1", amount=1080, fee=31)
        assert not await orders.mark_paid(session, subject.scope, order, processor="manual", payment_id="p1", charge_id="c1", amount=1080, fee=31)
        locked = await orders.locked_order(session, subject.scope, order.id)
        assert not await orders.mark_paid(session, subject.scope, locked, processor="manual", payment_id="p2", charge_id="c2", amount=1080)
        assert await _transactions(session, order) == [("payment", 1080, 80), ("processor_fee", -31, 0)]
        assert (locked.status, locked.balance_amount, locked.charge_id) == ("paid", 1049, "c1")
        assert await _events(session, org.id) == ["order.created", "order.paid", "order.updated"]
        await session.commit()


# -- refunds -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "subtotal", "tax", "refunds"),
    [
        ("usd", 918, 83, [333, 333, 335]),  # total 1001
        ("usd", 93, 7, [33, 33, 34]),
        ("usd", 7, 3, [1] * 10),  # tax parts 0,1,0,0,1,0,0,0,1,0
        ("jpy", 910, 91, [500, 501]),
        ("kwd", 10_000, 1_500, [1, 3_333, 3_333, 4_833]),
    ],
)
async def test_refunds_in_parts_end_refunded_with_their_tax_adding_up_exactly(session_factory, org, currency, subtotal, tax, refunds):
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        customer = await make_customer(session, subject)
        order = await paid_order(session, subject, customer, subtotal=subtotal, tax=tax, currency=currency)
        assert sum(refunds) == order.due_amount
        made = []
        for index, amount in enumerate(refunds):
            refund = await orders.create_refund(session, subject, order.id, amount=amount, reason="customer_request", processor=MANUAL)
            made.append(refund)
            last = index == len(refunds) - 1
            assert order.status == ("refunded" if last else "partially_refunded")
            assert order.refunded_amount == sum(refunds[: index + 1])
            assert 0 <= refund.tax_amount <= refund.amount and order.refunded_tax_amount <= order.refunded_amount
        assert sum(r.tax_amount for r in made) == tax == order.refunded_tax_amount
        assert [(r.amount, r.status, r.currency) for r in made] == [(a, "succeeded", currency) for a in refunds]
        assert len({r.processor_refund_id for r in made}) == len(refunds)
        assert order.balance_amount == 0 and order.refundable_amount == 0
        ledger = await _transactions(session, order)
        assert sorted(a for t, a, _ in ledger if t == "refund") == sorted(-a for a in refunds)
        assert sum(tax_part for t, _, tax_part in ledger if t == "refund") == -tax
        events = await _events(session, org.id)
        assert events.count("refund.created") == len(refunds) and events.count("order.refunded") == len(refunds)
        with pytest.raises(RefundNotAllowed):
            await orders.create_refund(session, subject, order.id, amount=1, reason="other", processor=MANUAL)
        await session.commit()


async def test_a_refund_beyond_what_may_be_refunded_changes_nothing(session_factory, org):
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        customer = await make_customer(session, subject)
        order = await paid_order(session, subject, customer, subtotal=900, tax=100)
        with pytest.raises(RefundExceedsRefundable) as raised:
            await orders.create_refund(session, subject, order.id, amount=1001, reason="duplicate", processor=MANUAL)
        assert (raised.value.requested, raised.value.refundable, raised.value.currency) == (1001, 1000, "usd")
        await orders.create_refund(session, subject, order.id, amount=600, reason="duplicate", processor=MANUAL)
        events_before = await _events(session, org.id)
        with pytest.raises(RefundExceedsRefundable) as raised:
            await orders.create_refund(session, subject, order.id, amount=401, reason="duplicate", processor=MANUAL)
        assert raised.value.refundable == 400
        order = await orders.locked_order(session, subject.scope, order.id)
        assert (order.status, order.refunded_amount, order.balance_amount) == ("partially_refunded", 600, 400)
        assert await count(session, "SELECT count(*) FROM refunds WHERE order_id = :o", o=order.id) == 1
        assert len(await _transactions(session, order)) == 2
        assert await _events(session, org.id) == events_before
        await orders.create_refund(session, subject, order.id, amount=400, reason="duplicate", processor=MANUAL)
        assert order.status == "refunded"
        await session.commit()


async def test_an_order_not_paid_or_with_nothing_paid_cannot_be_refunded(session_factory, org):
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        customer = await make_customer(session, subject)
        pending = await pending_order(session, subject, customer)
        with pytest.raises(RefundNotAllowed, match="pending"):
            await orders.create_refund(session, subject, pending.id, amount=1, reason="other", processor=MANUAL)
        free = await pending_order(session, subject, customer, subtotal=0)
        await orders.mark_paid(session, subject.scope, free, processor="manual", payment_id=None, charge_id=None, amount=0)
        with pytest.raises(RefundNotAllowed, match="Nothing was paid"):
            await orders.create_refund(session, subject, free.id, amount=1, reason="other", processor=MANUAL)
        assert await count(session, "SELECT count(*) FROM refunds") == 0
        await session.commit()


async def test_another_organizations_order_is_not_found(session_factory, org, other_org):
    from app.kit.errors import NotFound

    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        order = await paid_order(session, subject, await make_customer(session, subject))
        await session.commit()
    theirs = merchant(other_org.id)
    async with tenant_factory(session_factory, other_org.id)() as session:
        with pytest.raises(NotFound):
            await orders.create_refund(session, theirs, order.id, amount=1, reason="other", processor=MANUAL)
        with pytest.raises(NotFound):
            await orders.get_order(session, theirs, order.id)


@pytest.mark.parametrize(
    ("input", "expected"),
    [
        ({"amount": 0}, [(("amount",), "out_of_range")]),
        ({"amount": -5}, [(("amount",), "out_of_range")]),
        ({"amount": 1.5}, [(("amount",), "invalid_type")]),
        ({"amount": 100.0}, [(("amount",), "invalid_type")]),
        ({"amount": True}, [(("amount",), "invalid_type")]),
        ({"amount": "100"}, [(("amount",), "invalid_type")]),
        ({"reason": "changed_my_mind"}, [(("reason",), "invalid_value")]),
        ({"comment": "x" * 1001}, [(("comment",), "too_long")]),
        ({"amount": 0, "reason": "nope", "comment": "y" * 2000}, [(("amount",), "out_of_range"), (("reason",), "invalid_value"), (("comment",), "too_long")]),
    ],
)
async def test_bad_refund_input_is_refused_with_its_field(session_factory, org, input, expected):
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        order = await paid_order(session, subject, await make_customer(session, subject))
        arguments = {"amount": 100, "reason": "customer_request", "comment": None, **input}
        with pytest.raises(ValidationFailed) as raised:
            await orders.create_refund(session, subject, order.id, processor=MANUAL, **arguments)
        assert [(issue.path, issue.code) for issue in raised.value.issues] == expected
        assert (order.refunded_amount, order.status) == (0, "paid")
        assert await count(session, "SELECT count(*) FROM refunds") == 0


async def test_concurrent_refunds_never_pass_what_was_paid(live):
    """5 refunds of 40 % each of one order at once, each in its own transaction: exactly 2
    succeed, 3 are told what is left; twenty times over."""
    org = await make_org(live.session_factory)
    subject = merchant(org.id)
    async with tenant_session(live.session_factory, subject.scope) as session:
        customer = await make_customer(session, subject)
        order_ids = [(await paid_order(session, subject, customer, subtotal=920, tax=80)).id for _ in range(20)]
        await session.commit()

    async def refund(order_id) -> object:
        async with tenant_session(live.session_factory, subject.scope) as session:
            try:
                made = await orders.create_refund(session, subject, order_id, amount=400, reason="customer_request", processor=MANUAL)
            except RefundExceedsRefundable as exc:
                await session.rollback()
                return exc.refundable
            await session.commit()
            return made.amount

    for order_id in order_ids:
        outcomes = await asyncio.gather(*(refund(order_id) for _ in range(5)))
        assert sorted(outcomes) == [200, 200, 200, 400, 400], outcomes
    async with tenant_session(live.session_factory, subject.scope) as session:
        stored = (await session.execute(select(Order.refunded_amount, Order.status, Order.balance_amount).where(Order.id.in_(order_ids)))).all()
        assert set(stored) == {(800, "partially_refunded", 200)}
        assert await session.scalar(select(Refund.id).where(Refund.amount != 400)) is None
        refunds = (await session.scalars(select(Refund.order_id))).all()
    assert len(refunds) == 40


# -- what the processor reports ------------------------------------------------------------


async def test_a_processor_refund_is_recorded_once_and_capped_at_what_is_left(session_factory, org):
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        order = await paid_order(session, subject, await make_customer(session, subject), subtotal=1000)
        order = await orders.locked_order(session, subject.scope, order.id)
        first = await orders.record_processor_refund(session, subject.scope, order, processor_refund_id="re_1", amount=300, status="pending")
        assert first is not None and (first.amount, first.status, first.reason) == (300, "pending", "other")
        assert await orders.record_processor_refund(session, subject.scope, order, processor_refund_id="re_1", amount=300, status="succeeded") is None
        rest = await orders.record_processor_refund(session, subject.scope, order, processor_refund_id="re_2", amount=5000, status="succeeded")
        assert rest is not None and rest.amount == 700
        assert await orders.record_processor_refund(session, subject.scope, order, processor_refund_id="re_3", amount=1, status="succeeded") is None
        assert (order.status, order.refunded_amount, order.balance_amount) == ("refunded", 1000, 0)
        assert [a for t, a, _ in await _transactions(session, order) if t == "refund"] == [-700, -300]
        await session.commit()


async def test_a_dispute_is_recorded_once_and_a_won_one_comes_back_once(session_factory, org):
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        order = await paid_order(session, subject, await make_customer(session, subject), subtotal=1000)
        order = await orders.locked_order(session, subject.scope, order.id)
        assert not await orders.record_dispute_won(session, subject.scope, order, dispute_id="dp_1", amount=1000)  # no dispute yet
        assert order.balance_amount == 1000
        assert await orders.record_dispute(session, subject.scope, order, dispute_id="dp_1", amount=1000)
        assert not await orders.record_dispute(session, subject.scope, order, dispute_id="dp_1", amount=1000)
        assert order.balance_amount == 0
        assert not await orders.record_dispute_won(session, subject.scope, order, dispute_id="dp_other", amount=1000)
        assert await orders.record_dispute_won(session, subject.scope, order, dispute_id="dp_1", amount=1000)
        assert not await orders.record_dispute_won(session, subject.scope, order, dispute_id="dp_1", amount=1000)
        assert order.balance_amount == 1000 and order.status == "paid"
        assert await _transactions(session, order) == [("dispute", -1000, 0), ("dispute_reversal", 1000, 0), ("payment", 1000, 0)]
        await session.commit()


async def test_a_refund_retried_with_its_key_after_the_processors_event_recorded_it_refunds_once(session_factory, org):
    """The crash of the issue: the processor refunded, Kassa's commit was lost, the processor's
    `charge.refunded` recorded the refund meanwhile, then the merchant retries with its key. The
    processor's key comes from the merchant's key (not from the refund state, which moved), so the
    processor answers the refund it made and nothing is refunded twice."""
    import hashlib

    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        customer = await make_customer(session, subject)
        order = await paid_order(session, subject, customer, subtotal=1000)
        processor_key = f"kassa-refund-{order.id}-key-{hashlib.sha256(b'refund-1').hexdigest()[:32]}"
        made = await MANUAL.refund(payment_id=order.payment_id, amount=400, currency="usd", idempotency_key=processor_key, metadata={})
        await orders.record_processor_refund(session, subject.scope, order, processor_refund_id=made.refund_id, amount=400, status="succeeded")
        retried = await orders.create_refund(session, subject, order.id, amount=400, reason="duplicate", processor=MANUAL, idempotency_key="refund-1")
        assert retried.processor_refund_id == made.refund_id
        assert (order.refunded_amount, order.status) == (400, "partially_refunded")
        assert await count(session, "SELECT count(*) FROM refunds") == 1
        # without the key, the same call is a new refund
        again = await orders.create_refund(session, subject, order.id, amount=400, reason="duplicate", processor=MANUAL)
        assert again.processor_refund_id != made.refund_id and order.refunded_amount == 800
        await session.rollback()
