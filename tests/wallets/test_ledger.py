"""The wallet's core: credits become lots, debits take from them in spending order (grants first,
the soonest-expiring first), grants expire, adjustments, top-up refunds limited to what is left,
and the balance never below zero. The ledger and lots checks run after every test (conftest)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from app.kit import clock as kit_clock
from app.kit.errors import ValidationFailed
from app.wallets import service as wallets
from app.wallets.errors import InsufficientFunds
from tests.conftest import tenant_factory
from tests.orders.factories import make_customer, merchant, rows


async def test_grants_are_spent_first_soonest_expiring_first_and_expire(session_factory, org, clock):
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        customer = await make_customer(session, subject)
        wallet, _ = await wallets.adjust(session, subject, customer.id, "USD", 1000, reason="opening balance")
        await wallets.grant(session, subject, customer.id, "usd", 300, expires_at=kit_clock.now() + timedelta(days=30), reason="promo")
        await wallets.grant(session, subject, customer.id, "usd", 200, expires_at=kit_clock.now() + timedelta(days=10), reason="promo")
        await wallets.grant(session, subject, customer.id, "usd", 100, expires_at=None, reason="forever")
        wallet = await wallets.wallet_for(session, subject.scope, customer.id, "usd", lock=True)
        assert wallet.balance == 1600
        await wallets.debit(session, subject.scope, wallet, "usage", 250)
        lots = {(r.kind, r.amount): r.remaining for r in await rows(session, "SELECT kind, amount, remaining FROM wallet_lots")}
        assert lots == {("adjustment", 1000): 1000, ("grant", 300): 250, ("grant", 200): 0, ("grant", 100): 100}
        clock.advance(timedelta(days=31))
        assert await wallets.expire_grants(session, subject.scope) == 1
        assert await wallets.expire_grants(session, subject.scope) == 0
        wallet = await wallets.wallet_for(session, subject.scope, customer.id, "usd")
        assert wallet.balance == 1100
        types = [r.type for r in await rows(session, "SELECT type FROM wallet_entries ORDER BY sequence")]
        assert types == ["adjustment", "grant", "grant", "grant", "usage", "expiry"]
        with pytest.raises(InsufficientFunds):
            await wallets.adjust(session, subject, customer.id, "usd", -1101, reason="too much")
        await wallets.adjust(session, subject, customer.id, "usd", -1100, reason="all of it")
        with pytest.raises(ValidationFailed):
            await wallets.adjust(session, subject, customer.id, "usd", 5, reason="")
        with pytest.raises(ValidationFailed):
            await wallets.grant(session, subject, customer.id, "xyz", 5, expires_at=None, reason=None)
        await session.commit()


async def test_the_database_refuses_a_negative_balance(session_factory, org):
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        customer = await make_customer(session, subject)
        wallet, _ = await wallets.adjust(session, subject, customer.id, "usd", 10, reason="x")
        with pytest.raises(Exception) as failure:
            await session.execute(text("UPDATE wallets SET balance = -1 WHERE id = :id"), {"id": wallet.id})
        assert "balance_not_negative" in str(failure.value)
        await session.rollback()
