"""Paid money in and out of a wallet: the bounds of a top-up, and a top-up's refund.

A top-up is bought through a checkout (app/checkouts/service.py `create_wallet_top_up_checkout`)
or charged by an auto top-up (app/wallets/auto_top_up.py); either way its order (billing reason
`wallet_top_up`) is marked paid and the wallet credited (`service.credit_top_up`, once per order)
in one transaction. Its refund (`refund_wallet_top_up`) takes at most what remains unspent (and
not held) of it back out of the wallet, then refunds the payment through the order's refund, in
one transaction: a refused refund changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Any, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.subject import Subject
from app.kit.errors import FieldIssue, ValidationFailed
from app.kit.money import check_amount
from app.kit.tenancy import TenantScope
from app.models import Organization
from app.models.order import Refund
from app.models.wallet import Wallet
from app.orders import service as orders
from app.orders.errors import RefundExceedsRefundable, RefundNotAllowed
from app.organizations import repository as organizations_repository
from app.payments.processors import PaymentProcessor
from app.wallets import service
from app.wallets.errors import WalletNotAllowed


async def organization_of(session: AsyncSession, scope: TenantScope) -> Organization:
    organization = await organizations_repository.get(session, scope)
    assert organization is not None
    return organization


def bounds_issue(organization: Organization, currency: str, path: tuple[str, ...] = ("amount",)) -> FieldIssue:
    low, high = organization.wallet_minimum_top_up, organization.wallet_maximum_top_up
    return FieldIssue(path, f"a top-up must be from {low} to {high} (minor units of {currency})", "out_of_bounds")


async def check_top_up(session: AsyncSession, scope: TenantScope, currency: Any, amount: Any) -> tuple[str, int]:
    """The currency code and amount of a top-up, within the organization's bounds
    (`wallet_minimum_top_up` to `wallet_maximum_top_up`); else ValidationFailed naming them
    (code `out_of_bounds`)."""
    code = service.check_currency_code(currency)
    issues: list[FieldIssue] = []
    value = check_amount(issues, ("amount",), amount, minimum=1)
    if issues:
        raise ValidationFailed(issues)
    organization = await organization_of(session, scope)
    assert value is not None
    if not organization.wallet_minimum_top_up <= value <= organization.wallet_maximum_top_up:
        raise ValidationFailed([bounds_issue(organization, code)])
    return code, value


async def refund_wallet_top_up(
    session: AsyncSession,
    subject: Subject,
    order_id: uuid.UUID,
    amount: Any,
    *,
    reason: str,
    comment: str | None,
    processor_for: Callable[[str], PaymentProcessor],
    idempotency_key: str | None,
) -> tuple[Wallet, uuid.UUID, Refund]:
    """Refund `amount` of a top-up: taken out of its wallet (at most what remains unspent and not
    held: `RefundExceedsUnspent`), then the payment refunded through the order's refund (the
    order's rules, answered as `WalletNotAllowed`: paid, at most what is refundable), with the
    order's processor (`processor_for(order.processor)`). Never commits; on any error the caller
    rolls everything back."""
    issues: list[FieldIssue] = []
    check_amount(issues, ("amount",), amount, minimum=1)
    if issues:
        raise ValidationFailed(issues)
    order = await orders.get_order(session, subject, order_id)
    if order.billing_reason != "wallet_top_up":
        raise WalletNotAllowed("This order is not a wallet top-up: refund it with createRefund")
    processor = processor_for(order.processor)
    wallet, entry_id = await service.refund_top_up(session, subject.scope, order.id, amount, reason=comment or f"Refund of top-up order #{order.invoice_number}")
    try:
        refund = await orders.create_refund(
            session, subject, order.id, amount=amount, reason=reason, comment=comment, processor=processor,
            idempotency_key=idempotency_key, wallet_refund=True,
        )
    except (RefundNotAllowed, RefundExceedsRefundable) as exc:  # the order's own rules (e.g. not paid): the wallet's error
        raise WalletNotAllowed(exc.message) from None
    return wallet, entry_id, refund
