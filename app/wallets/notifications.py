"""What follows a wallet's balance change (job `wallets.balance_changed`, asked for by
`service.balance_changed` after every credit and debit, one job per burst): its webhooks, then
the auto top-up check. The job publishes the live update after its commit (workers/wallets.py).

- `wallet.balance_updated`, at most one per wallet per second: the wallet as it is now and the
  transactions since the last one sent (`sequence > notified_sequence`, oldest first, at most
  `MAX_TRANSACTIONS`; `hasMore` says the rest follow in the next one). When the last one went
  out less than a second ago, the job asks for itself again when the second has passed.
- `wallet.low_balance` once per crossing under the organization's `wallet_low_balance_threshold`
  (set `low_balance_notified`; cleared when the balance is back at or above the threshold).
- `wallet.depleted` once when the balance reaches zero (cleared when it is above zero again).
  Both only for a wallet that ever had money: a new empty wallet is not "depleted".

The wallet row is locked first, so two runs at once queue up and the second sees what the first
sent; a run twice sends nothing twice. Whoever posts to the wallet holds the same lock until it
commits, so no entry below the ones read here can still appear.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.customers import repository as customers
from app.kit import clock
from app.kit.decimals import decimal_text
from app.kit.ids import to_global_id
from app.kit.jobs import enqueue_after_commit
from app.kit.tenancy import TenantScope
from app.models import Customer, WebhookEventType
from app.models.wallet import Wallet, WalletEntry
from app.organizations import repository as organizations
from app.wallets import auto_top_up, repository
from app.wallets.service import CHANGED_JOB
from app.webhooks.service import emit

BALANCE_UPDATED_INTERVAL = timedelta(seconds=1)
MAX_TRANSACTIONS = 100


# -- webhook data: the wallet and its transactions as the API shows them -----------------------------


def wallet_data(wallet: Wallet, customer: Customer | None = None) -> dict[str, Any]:
    """A wallet in webhooks: amounts in minor units of `currency`."""
    return {
        "id": to_global_id("Wallet", wallet.id),
        "customerId": to_global_id("Customer", wallet.customer_id),
        "customerExternalId": customer.external_id if customer is not None else None,
        "currency": wallet.currency,
        "balance": wallet.balance,
        "held": wallet.held,
        "available": wallet.available,
        "modifiedAt": wallet.modified_at.isoformat() if wallet.modified_at else None,
    }


def transaction_data(entry: WalletEntry) -> dict[str, Any]:
    """A ledger entry in webhooks: `amount` signed from the customer's side (credits > 0)."""
    return {
        "id": to_global_id("WalletTransaction", entry.id),
        "sequence": entry.sequence,
        "type": entry.type.upper(),
        "amount": entry.amount,
        "memberId": to_global_id("Member", entry.member_id) if entry.member_id else None,
        "meterId": to_global_id("Meter", entry.meter_id) if entry.meter_id else None,
        "quantity": decimal_text(entry.quantity) if entry.quantity is not None else None,
        "holdId": to_global_id("WalletHold", entry.hold_id) if entry.hold_id else None,
        "orderId": to_global_id("Order", entry.order_id) if entry.order_id else None,
        "reason": entry.reason,
        "createdAt": entry.created_at.isoformat(),
    }


# -- the job's work -----------------------------------------------------------------------------------


@dataclass
class Notified:
    """What one run did (the job's summary, the tests' view)."""

    wallet: Wallet | None = None
    sent: list[str] = field(default_factory=list)  # webhook event types emitted, in order
    transactions: int = 0  # carried by the balance_updated sent
    deferred_until: datetime | None = None  # business time the next balance_updated waits for


async def balance_changed(session: AsyncSession, scope: TenantScope, wallet_id: uuid.UUID) -> Notified:
    """The wallet's webhooks after a change, then the auto top-up check, in the caller's
    transaction (the job commits)."""
    result = Notified()
    wallet = await repository.get(session, scope, wallet_id, lock=True)
    if wallet is None:
        return result
    result.wallet = wallet
    last = await repository.last_entry(session, scope, wallet.id)
    if last is not None:  # a wallet that never had an entry never had money: nothing to say
        customer = await customers.get(session, scope, wallet.customer_id)
        data = wallet_data(wallet, customer)
        now = clock.now()
        if last.sequence > wallet.notified_sequence:
            await _balance_updated(session, scope, wallet, data, now, result)
        organization = await organizations.get(session, scope)
        threshold = organization.wallet_low_balance_threshold if organization is not None else 0
        if wallet.balance < threshold and not wallet.low_balance_notified:
            wallet.low_balance_notified = True
            await emit(session, scope, WebhookEventType.wallet_low_balance, {"wallet": data, "threshold": threshold})
            result.sent.append(WebhookEventType.wallet_low_balance.value)
        elif wallet.balance >= threshold and wallet.low_balance_notified:
            wallet.low_balance_notified = False
        if wallet.balance == 0 and not wallet.depleted_notified:
            wallet.depleted_notified = True
            await emit(session, scope, WebhookEventType.wallet_depleted, {"wallet": data})
            result.sent.append(WebhookEventType.wallet_depleted.value)
        elif wallet.balance > 0 and wallet.depleted_notified:
            wallet.depleted_notified = False
    await auto_top_up.consider(session, scope, wallet)
    await session.flush()
    return result


async def _balance_updated(session: AsyncSession, scope: TenantScope, wallet: Wallet, data: dict[str, Any], now: datetime, result: Notified) -> None:
    due = wallet.notified_at + BALANCE_UPDATED_INTERVAL if wallet.notified_at is not None else None
    if due is not None and now < due:
        result.deferred_until = due
        ask_again(session, wallet.id, due - now)
        return
    entries = await repository.entries_after(session, scope, wallet.id, wallet.notified_sequence, limit=MAX_TRANSACTIONS + 1)
    has_more = len(entries) > MAX_TRANSACTIONS
    entries = entries[:MAX_TRANSACTIONS]
    await emit(
        session, scope, WebhookEventType.wallet_balance_updated,
        {"wallet": data, "transactions": [transaction_data(e) for e in entries], "hasMore": has_more},
    )
    wallet.notified_sequence = entries[-1].sequence
    wallet.notified_at = now
    result.sent.append(WebhookEventType.wallet_balance_updated.value)
    result.transactions = len(entries)
    if has_more:
        result.deferred_until = now + BALANCE_UPDATED_INTERVAL
        ask_again(session, wallet.id, BALANCE_UPDATED_INTERVAL)


def ask_again(session: AsyncSession, wallet_id: uuid.UUID, after: timedelta) -> None:
    """The job again, once `after` has passed (the queue runs on real time, whatever the
    business clock says). Its id names the tenth of a second it starts at: every run deferring to
    the same moment asks for one job, and the id is never the running job's own (arq refuses an
    id still queued or running)."""
    tenth = math.ceil((time.time() + max(after.total_seconds(), 0)) * 10)
    enqueue_after_commit(
        session, CHANGED_JOB, wallet_id,
        defer_until=datetime.fromtimestamp(tenth / 10, tz=timezone.utc), job_id=f"{CHANGED_JOB}:{wallet_id}:after:{tenth}",
    )
