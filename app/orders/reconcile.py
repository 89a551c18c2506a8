"""The order check: every order's transactions reconcile with its amounts, to the cent.

For each order the session may see: the payments in the ledger equal what was paid (the due
amount once the order is paid, refunded or partly refunded; nothing before), the refunds equal
minus `refunded_amount` (and their tax minus `refunded_tax_amount`), and the cached
`balance_amount` equals the sum of all its transactions (also checked for every ledger by
app/kit/ledger.py). The test suite runs it after every test, next to the ledger check.
"""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.order import Order, OrderStatus, Transaction, TransactionType

PAID_STATES = (OrderStatus.paid.value, OrderStatus.refunded.value, OrderStatus.partially_refunded.value)


def _sum_of(type: TransactionType, column=Transaction.amount):
    return func.coalesce(func.sum(case((Transaction.type == type.value, column), else_=0)), 0)


async def discrepancies(session: AsyncSession) -> list[str]:
    """One line per order whose ledger does not reconcile with its amounts; empty when all do."""
    sums = (
        select(
            Transaction.order_id,
            _sum_of(TransactionType.payment).label("paid"),
            _sum_of(TransactionType.refund).label("refunded"),
            _sum_of(TransactionType.refund, Transaction.tax_amount).label("refunded_tax"),
            func.sum(Transaction.amount).label("total"),
        )
        .group_by(Transaction.order_id)
        .subquery()
    )
    paid = func.coalesce(sums.c.paid, 0)
    refunded = func.coalesce(sums.c.refunded, 0)
    refunded_tax = func.coalesce(sums.c.refunded_tax, 0)
    total = func.coalesce(sums.c.total, 0)
    expected_paid = case((Order.status.in_(PAID_STATES), Order.due_amount), else_=0)
    statement = (
        select(Order.id, Order.status, Order.due_amount, Order.refunded_amount, Order.refunded_tax_amount, Order.balance_amount, paid, refunded, refunded_tax, total)
        .select_from(Order)
        .outerjoin(sums, sums.c.order_id == Order.id)
        .where(
            (paid != expected_paid)
            | (refunded != -Order.refunded_amount)
            | (refunded_tax != -Order.refunded_tax_amount)
            | (total != Order.balance_amount)
        )
    )
    return [
        f"order {row[0]} ({row[1]}): due {row[2]}, refunded {row[3]} (tax {row[4]}), cached balance {row[5]}; "
        f"ledger: payments {row[6]}, refunds {row[7]} (tax {row[8]}), sum {row[9]}"
        for row in (await session.execute(statement)).all()
    ]
